"""When the trainer runs its loss through torch.compile, and how it keeps compiled training deterministic.

Measured on 2 EPYC cores for the default model (d_model 64, 2 layers, batches of 16 x 128 tokens): compiling
the whole training objective, decoder body and fused head loss together, made an optimizer step about 1.3x
faster (41 ms against 53 ms, interleaved). Inductor fuses the body's many small ops (norms, rotary, SwiGLU)
that eager mode pays per-op overhead for at this width. A first compile costs ~25 s, ~4 s once inductor's
on-disk cache holds it.
That pays back over one run, whose probe and cells all share one model shape and hence one compiled graph.
It does not pay back for a single short training, hence `auto`: compile on CPU when a training runs at least
COMPILE_MIN_STEPS optimizer steps. CUDA stays eager under `auto` until compile is measured there.

Determinism: inductor lowers the embedding's backward to an index_put with atomic adds, so plain compiled
training gave different weights from run to run. Under torch.use_deterministic_algorithms it keeps the ordered
kernel, and two compiled runs, in one process or two, cold or warm cache, give identical weights
(tests/test_compiled.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from .config import COMPILE_MODES, TrainConfig
from .errors import UserError

COMPILE_MIN_STEPS = 300  # the default preset's cells train 391 steps, its probe 489; the smoke preset's fewer than 100


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would use on CPU, or None where there is none (compile cannot work there)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        return get_cpp_compiler()
    except Exception:
        return None


def compiles(cfg: TrainConfig, device: str, steps: int) -> bool:
    """Whether a training of `steps` optimizer steps on `device` runs compiled under `cfg.compile`."""
    if cfg.compile not in COMPILE_MODES:
        raise UserError(f"compile {cfg.compile!r}: choose one of {', '.join(COMPILE_MODES)}")
    if cfg.compile == "off":
        return False
    if device == "cpu" and cxx_compiler() is None:
        if cfg.compile == "on":
            raise UserError("--compile on: torch.compile needs a C++ compiler on CPU (install g++), or use --compile off")
        return False
    return cfg.compile == "on" or (device == "cpu" and steps >= COMPILE_MIN_STEPS)


@contextmanager
def compiled_training() -> Iterator[None]:
    """The settings compiled training runs under, restored afterwards.

    - torch.use_deterministic_algorithms (warn-only: an op without an ordered kernel warns, never fails);
    - a compile error instead of dynamo's silent fallback to eager after 8 recompiles of one code object: a
      process that trained many model shapes would otherwise give different numbers for the same config.
    """
    import torch._dynamo

    before, before_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
            yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def compile_objective(net: torch.nn.Module) -> torch.nn.Module:
    """The objective compiled to one static-shape graph per model shape, shared by every model of that shape.

    Parameters are graph inputs (dynamo inlines built-in modules), so the next cell's fresh model of the same
    shape reuses the compiled code instead of compiling again.
    """
    return torch.compile(net, dynamic=False)
