"""What a cached model depends on besides its config: the training code's version and the libraries."""

from __future__ import annotations

import platform
from importlib.metadata import version

from .compiled import cxx_compiler

# Part of every cached model's key (cells and probe) and of every cell's key, with the library versions: bump it
# when the training or scoring code changes its results. 2: the fused, chunked head loss on CPU (head.py).
# 3: long CPU trainings compiled (compiled.py). 4: the same weights for any thread count (determinism.py).
MODELS_VERSION = "4"

# Part of every cell's key, not of a cached model's: bump it when evaluation records new or changed metrics, so
# cells re-evaluate their cached models. 2: DataDecide's continuous downstream metrics (harness.CONTINUOUS).
METRICS_VERSION = "2"


def package_versions() -> dict[str, str]:
    names = ("torch", "transformers", "tokenizers", "numpy", "pandas", "infoprune")
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    # Compiled and eager training differ in the last bits, and `--compile auto` compiles only where inductor
    # finds a C++ compiler: a cache shared by machines with and without one must not mix the two.
    found["c++ compiler"] = "found" if cxx_compiler() else "none"
    return found
