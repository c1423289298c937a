"""The same numbers whatever the thread count: the settings that make CPU results independent of it.

Measured on 2 cores (x86-64, torch 2.13 with MKL 2024.2), training the default model with 1, 2 and 4
threads, and fixed by the settings below:
- MKL's GEMM splits the reduction dimension among threads when it is long (a weight gradient sums over the
  batch's 2,048 tokens), so trained weights differed with the thread count. MKL's strict conditional
  numerical reproducibility (`MKL_CBWR=AUTO,STRICT`) makes GEMM bitwise the same for any thread count, on
  the best code path of the CPU it runs on: about 3% slower steps. Only the AVX2 branch would also match
  across CPUs, and it trained 1.45x slower on an AVX-512 machine, so it is not the default.
  MKL reads the setting once, at its first call, so it is set when infoprune is imported (infoprune/__init__.py),
  before any torch work; `blas_is_strict` checks that it took.
- torch.compile's C++ kernels split loops (reductions among them) by the thread count they are generated for:
  compiled.py generates them for COMPILED_THREADS whatever the machine has.
- scikit-learn's k-means and numpy's BLAS (OpenBLAS) sum in thread-count-dependent blocks: criteria run
  them under `single_threaded()`.
Across CPUs with other vector units (AVX2 against AVX-512) the last bits still differ; `bench isa-check`
measures how much that moves kept sets and metrics.
"""

from __future__ import annotations

import ctypes
import os
import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

MKL_CBWR = "AUTO,STRICT"
_MKL_STRICT_BIT = 0x10000  # MKL_CBWR_STRICT in mkl_service.h
_MKL_ALL = ~0  # MKL_CBWR_ALL: ask mkl_cbwr_get for the whole setting


def pin_blas() -> None:
    """Ask MKL for strict reproducibility unless the user chose a setting of their own."""
    os.environ.setdefault("MKL_CBWR", MKL_CBWR)


def _mkl():
    import torch

    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        return lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None  # torch without MKL (ARM, macOS): nothing to check here


def blas_is_strict() -> bool | None:
    """Whether torch's MKL runs in strict mode (None where torch has no MKL)."""
    get = _mkl()
    if get is None:
        return None
    get.restype = ctypes.c_int
    return bool(get(ctypes.c_int(_MKL_ALL)) & _MKL_STRICT_BIT)


@contextmanager
def single_threaded() -> Iterator[None]:
    """numpy's BLAS and OpenMP (scikit-learn) on one thread, restored afterwards; torch's own pool is not touched
    outside this block. For numpy and scikit-learn work whose sums are split among threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def cpu_info() -> dict:
    """The CPU as far as it changes the last bits: its model, its vector extensions, and what torch and MKL use."""
    import torch

    info: dict = {"processor": platform.processor() or platform.machine()}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "model name" in fields:
        info["cpu_model"] = fields["model name"]
    flags = set(fields.get("flags", "").split())
    vector = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_bf16")
    info["vector_extensions"] = [f for f in vector if f in flags]
    info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["mkl_cbwr"] = os.environ.get("MKL_CBWR", "")
    info["mkl_strict"] = blas_is_strict()
    return info


def machine(device: str) -> dict:
    """What timings were measured on, and what changes the last bits of the numbers: for manifests and reports."""
    import torch

    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": device} | cpu_info()
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def where(device: str) -> dict:
    """Where a cost was measured, in brief: recorded beside cache entries, so a run that reuses one can say it."""
    import torch

    return {"cpu": cpu_info().get("cpu_model", platform.machine()), "threads": torch.get_num_threads(),
            "device": device}
