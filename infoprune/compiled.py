"""When the trainer runs its loss through torch.compile, and how it keeps compiled training deterministic.

Measured, compiling the whole training objective (decoder body and fused head loss together), interleaved:
- 2 EPYC cores, default model (d_model 64, 2 layers, batches of 16 x 128 tokens): ~1.3x faster than eager
  (41 against 53 ms a step). Inductor fuses the body's many small ops (norms, rotary, SwiGLU), for which
  eager mode pays per-op overhead at this width. The first compile costs ~25 s, ~4 s from inductor's
  on-disk cache.
- One H200, paper model (124M, batches of 64 x 1,024, bf16): 1.8x (440k against 243k tokens/s); ~27 s to
  compile.
That pays back over a run, whose probe and cells share one model shape and hence one compiled graph, but not
over one short training, hence `auto`: compile when a training runs at least COMPILE_MIN_STEPS steps.

Determinism: inductor lowers the embedding's backward to an index_put with atomic adds, so plain compiled
training on CPU gave different weights from run to run. Under torch.use_deterministic_algorithms it keeps the
ordered kernel, and two compiled CPU runs, in one process or two, cold or warm cache, give identical weights
(tests/test_compiled.py). On CUDA, eager training was not bit-identical from run to run either (measured on
the H200), so compiling costs CUDA runs no reproducibility they had.

Thread count: inductor's C++ kernels split their loops, reductions included, by the number of threads they are
generated for, so compiled weights differed between 1, 2 and 4 threads. They are generated for COMPILED_THREADS
on every machine. Measured on 2 cores (default model, compiled step): 2 threads 21.5 ms, 1 thread 26 ms (slower
than eager's 25 ms); on one core, 2 threads cost 2% (38.4 against 37.6 ms). Matrix products are MKL calls,
which use every thread (determinism.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from .config import COMPILE_MODES, TrainConfig
from .errors import UserError

COMPILED_THREADS = 2  # the thread count compiled CPU kernels are generated for, whatever the machine has
# The default preset's cells train 391 steps, its probe 489, the paper preset's 1,526; the smoke preset's < 100.
COMPILE_MIN_STEPS = 300


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would use on CPU, or None where there is none (compile cannot work there)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        return get_cpp_compiler()
    except Exception:
        return None


def compiler_ready(device: str) -> bool:
    """Whether torch.compile can build kernels for `device`: it needs a C++ compiler on CPU, Triton on CUDA."""
    if device == "cuda":
        try:
            from torch.utils._triton import has_triton

            return has_triton()
        except Exception:
            return False
    return cxx_compiler() is not None


def compiles(cfg: TrainConfig, device: str, steps: int) -> bool:
    """Whether a training of `steps` optimizer steps on `device` runs compiled under `cfg.compile`."""
    if cfg.compile not in COMPILE_MODES:
        raise UserError(f"compile {cfg.compile!r}: choose one of {', '.join(COMPILE_MODES)}")
    if cfg.compile == "off":
        return False
    if not compiler_ready(device):
        if cfg.compile == "on":
            need = "Triton" if device == "cuda" else "a C++ compiler (install g++)"
            raise UserError(f"--compile on: torch.compile needs {need} on {device}; or use --compile off")
        return False
    return cfg.compile == "on" or steps >= COMPILE_MIN_STEPS


@contextmanager
def compiled_training() -> Iterator[None]:
    """The settings compiled training runs under, restored afterwards.

    - torch.use_deterministic_algorithms (warn-only: an op without an ordered kernel warns, never fails);
    - a compile error instead of dynamo's silent fallback to eager after 8 recompiles of one code object: a
      process that trained many model shapes would otherwise give different numbers for the same config;
    - C++ kernels generated for COMPILED_THREADS threads, so that they split their sums the same way everywhere.
    """
    import torch._dynamo
    import torch._inductor.config

    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True), \
                torch._inductor.config.patch({"cpp.threads": COMPILED_THREADS}):
            yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def compile_objective(net: torch.nn.Module) -> torch.nn.Module:
    """The objective compiled to one static-shape graph per model shape, shared by every model of that shape.

    Parameters are graph inputs (dynamo inlines built-in modules), so the next cell's fresh model of the same
    shape reuses the compiled code instead of compiling again.
    """
    return torch.compile(net, dynamic=False)
