"""Evaluation: held-out bits per byte and token perplexity, in-domain (overall and per source) and out-of-domain."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .samples import Sample


def lm_metrics(name: str, samples: Sequence[Sample], nll: list[np.ndarray]) -> dict[str, float]:
    """Bits per UTF-8 byte (tokenizer-independent) and per-token perplexity of one evaluation set."""
    total_nats = float(sum(x.sum() for x in nll))
    total_tokens = int(sum(len(x) for x in nll))
    total_bytes = int(sum(s.n_bytes for s in samples))
    return {
        f"bpb/{name}": total_nats / math.log(2) / max(1, total_bytes),
        f"ppl/{name}": math.exp(total_nats / max(1, total_tokens)),
    }


def evaluate(
    eval_sets: dict[str, Sequence[Sample]], nll: Callable[[Sequence[Sample]], list[np.ndarray]]
) -> dict[str, float]:
    """Metrics for every evaluation set, plus `in_domain/<source>` for each source of the in-domain set."""
    metrics: dict[str, float] = {}
    for name, samples in eval_sets.items():
        if not samples:
            continue
        scores = nll(samples)
        metrics.update(lm_metrics(name, samples, scores))
        if name == "in_domain":
            for source in sorted({s.source for s in samples}):
                idx = [i for i, s in enumerate(samples) if s.source == source]
                metrics.update(lm_metrics(f"in_domain/{source}", [samples[i] for i in idx], [scores[i] for i in idx]))
    return metrics
