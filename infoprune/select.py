"""Selection: the one function that turns scores into the kept set, shared by every criterion."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import CriterionError, UserError


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


def select(ids: Sequence[str], scores: np.ndarray, ratio: float, mode: str = "top") -> list[str]:
    """Keep exactly k ids: the highest scores (`top`), the lowest (`bottom`) or the central band (`middle`).

    Ties are broken by ascending sample id in every mode, so the kept set never depends on pool order.
    """
    if mode not in ("top", "middle", "bottom"):
        raise CriterionError(f"unknown selection mode {mode!r}; valid: top, middle, bottom")
    k = n_kept(len(ids), ratio)
    keys = np.asarray(ids, dtype=str)
    # lexsort sorts by its last key first: by score (negated for `top`), then by id.
    order = np.lexsort((keys, -scores if mode == "top" else scores))
    start = (len(ids) - k) // 2 if mode == "middle" else 0
    return sorted(ids[i] for i in order[start : start + k])
