"""Selection keeps exactly k, breaks ties by id, and honours the direction of each mode."""

import numpy as np
import pytest

from infoprune.errors import CriterionError, UserError
from infoprune.select import check_scores, n_kept, select

IDS = [f"s{i:02d}" for i in range(10)]
SCORES = np.arange(10, dtype=float)  # s00 lowest ... s09 highest


@pytest.mark.parametrize("n,ratio,k", [(10, 0.25, 8), (10, 0.5, 5), (10, 0.75, 3), (7, 0.5, 4), (3, 0.99, 1)])
def test_exact_k(n, ratio, k):
    assert n_kept(n, ratio) == k
    assert len(select([f"x{i}" for i in range(n)], np.zeros(n), ratio)) == k


def test_top_keeps_highest():
    assert select(IDS, SCORES, 0.7) == ["s07", "s08", "s09"]


def test_bottom_keeps_lowest():
    assert select(IDS, SCORES, 0.7, mode="bottom") == ["s00", "s01", "s02"]


def test_middle_keeps_the_central_band():
    assert select(IDS, SCORES, 0.6, mode="middle") == ["s03", "s04", "s05", "s06"]


def test_ties_break_by_id_in_every_mode_and_ignore_pool_order():
    ids = ["b", "d", "a", "c"]
    tied = np.ones(4)
    assert select(ids, tied, 0.5) == ["a", "b"]
    assert select(ids, tied, 0.5, mode="bottom") == ["a", "b"]
    assert select(ids[::-1], tied, 0.5) == ["a", "b"]


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_ratio_outside_open_interval_is_refused(ratio):
    with pytest.raises(UserError, match="outside"):
        select(IDS, SCORES, ratio)


def test_nan_scores_name_the_criterion_and_samples():
    bad = SCORES.copy()
    bad[3] = np.nan
    with pytest.raises(CriterionError, match=r"information: 1 NaN.*s03"):
        check_scores("information", IDS, bad)


def test_scores_closer_than_rank_bits_tie_and_go_by_id_in_every_mode():
    from infoprune.select import RANK_BITS

    noise = 2.0 ** -(RANK_BITS + 4)  # far below the resolution selection compares at
    a = np.array([5.0, 5.0 * (1 + noise), 1.0, 9.0])  # "b" is "a" plus rounding noise
    b = a.copy()
    b[:2] = b[1::-1]  # the noise on the other copy instead
    for mode in ("top", "bottom"):
        assert select(["a", "b", "c", "d"], a, 0.5, mode) == select(["a", "b", "c", "d"], b, 0.5, mode)
    assert select(["a", "b", "c", "d"], a, 0.75, "top") == ["d"]
    assert select(["a", "b", "c", "d"], a, 0.5, "top") == ["a", "d"]  # the tie goes to the smaller id
    assert select(["a", "b", "c", "d"], np.array([5.0, 5.0 * (1 + 2.0 ** -(RANK_BITS - 2)), 1.0, 9.0]), 0.5,
                  "top") == ["b", "d"]  # a real difference still counts


def test_every_criterion_takes_keep_and_gumbel_draws_by_log_weight():
    from infoprune.criterion import build, parse_specs

    assert build(parse_specs("compression:keep=middle")[0]).keep == "middle"
    assert build(parse_specs("length")[0]).keep == "top"
    ids = [f"s{i:03d}" for i in range(200)]
    log_w = np.where(np.arange(200) < 20, 5.0, -5.0)  # 20 samples e^10 times likelier than the rest
    kept = select(ids, log_w, 0.9, "gumbel", seed=1)
    assert len(kept) == 20 and sum(k < "s020" for k in kept) >= 18
    assert select(ids, log_w, 0.9, "gumbel", seed=1) == kept
    flat = np.zeros(200)  # equal weights: a uniform draw, which the seed changes
    assert select(ids, flat, 0.5, "gumbel", seed=1) != select(ids, flat, 0.5, "gumbel", seed=2)
    assert select(ids, -log_w, 0.5, "gumbel", seed=1) != select(ids, log_w, 0.5, "gumbel", seed=1)
