"""infoprune: a benchmark of data-pruning criteria for language-model pretraining."""

__version__ = "0.1.0"
