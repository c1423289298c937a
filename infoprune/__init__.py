"""infoprune: a benchmark of data-pruning criteria for language-model pretraining."""

from .determinism import pin_blas

# Before any torch work: MKL reads its reproducibility setting once, at its first call (determinism.py).
pin_blas()

__version__ = "0.1.0"
