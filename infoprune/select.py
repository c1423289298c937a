"""Selection: the one function that turns scores into the kept set, shared by every criterion."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import CriterionError, UserError
from .samples import unit_hash


def check_ratio(ratio: float) -> float:
    if not 0.0 < ratio < 1.0:
        raise UserError(f"pruning ratio {ratio} is outside (0, 1): it is the fraction pruned, e.g. 0.25,0.5,0.75")
    return ratio


def n_kept(n: int, ratio: float) -> int:
    """k = round((1 - ratio) * n), halves rounded up, and never fewer than one sample."""
    return max(1, int(np.floor((1.0 - check_ratio(ratio)) * n + 0.5)))


def check_scores(criterion: str, ids: Sequence[str], scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(ids),):
        raise CriterionError(f"{criterion}: returned {scores.shape} scores for {len(ids)} samples")
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        shown = ", ".join(ids[i] for i in bad[:5])
        raise CriterionError(f"{criterion}: {len(bad)} NaN or infinite scores, e.g. for {shown}")
    return scores


MODES = ("top", "middle", "bottom", "sample", "gumbel")

# Scores are ranked at 20 significant bits, about 6 decimal digits; samples closer than that tie, and ties go
# by id. float32 carries 24 bits and rounding noise sits in the last of them, so two copies of one text scored
# in different batches tie exactly instead of being ordered by noise. It does not make continuous noise rarer:
# a score within that noise of the cut can still cross it (README, "The same numbers on every machine").
RANK_BITS = 20


def rank_key(scores: np.ndarray) -> np.ndarray:
    """`scores` rounded to RANK_BITS significant bits (halves to even): what selection compares."""
    mantissa, exponent = np.frexp(np.asarray(scores, dtype=np.float64))
    return np.ldexp(np.round(np.ldexp(mantissa, RANK_BITS)), exponent - RANK_BITS)


def select(ids: Sequence[str], scores: np.ndarray, ratio: float, mode: str = "top", seed: int = 0) -> list[str]:
    """Keep exactly k ids, by one of five modes.

    `top`, `bottom` and `middle` keep the highest, lowest or central band of scores, compared at RANK_BITS
    significant bits with ties broken by ascending id, so the kept set never depends on pool order. `sample`
    draws k without replacement with probability proportional to the (positive) score, by Gumbel top-k with
    noise hashed from (seed, id): inverse-propensity sampling when the score is 1 / density. `gumbel` draws the
    same way with probability proportional to exp(score), for scores that are log-weights (DSIR's resampling).
    """
    if mode not in MODES:
        raise CriterionError(f"unknown selection mode {mode!r}; valid: {', '.join(MODES)}")
    k = n_kept(len(ids), ratio)
    keys = np.asarray(ids, dtype=str)
    if mode in ("sample", "gumbel"):
        if mode == "sample" and (scores <= 0).any():
            raise CriterionError("selection mode 'sample' needs positive scores (sampling weights); "
                                 "'gumbel' takes log-weights")
        u = np.array([unit_hash(i, seed) for i in ids]).clip(1e-12, 1 - 1e-12)
        log_weights = np.log(scores) if mode == "sample" else np.asarray(scores, dtype=np.float64)
        scores = log_weights - np.log(-np.log(u))
    scores = rank_key(scores)
    # lexsort sorts by its last key first: by score (negated to keep the highest), then by id.
    order = np.lexsort((keys, scores if mode == "bottom" or mode == "middle" else -scores))
    start = (len(ids) - k) // 2 if mode == "middle" else 0
    return sorted(ids[i] for i in order[start : start + k])
