"""What a cached model depends on besides its config: the training code's version and the libraries."""

from __future__ import annotations

import platform
from importlib.metadata import version

# Part of every cached model's key (cells and probe) and of every cell's key, with the library versions: bump it
# when the training or scoring code changes its results. 2: the fused, chunked head loss on CPU (head.py).
MODELS_VERSION = "2"


def package_versions() -> dict[str, str]:
    names = ("torch", "transformers", "tokenizers", "numpy", "pandas", "infoprune")
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found
