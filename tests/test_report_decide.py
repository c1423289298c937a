"""Which metrics can rank criteria, the generated verdict, and what each criterion is made of: on toy result
tables where the answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infoprune.report import report
from infoprune.report.decide import seed_halves, signal_noise, stability, verdict_text, verdicts
from infoprune.report.profiles import terms_table, twins
from infoprune.report.rundata import Run, load_run

from test_report import make_run

SEEDS = (0, 1, 2, 3, 4)
# Mean in-domain bpb by criterion: far apart, except `information-residual`, which ties `random` exactly.
BPB = {"random": 3.0, "information": 2.7, "entropy": 3.3, "length": 3.6, "information-residual": 3.0}
WOBBLE = (0.01, -0.01, 0.01, -0.01, 0.0)  # information-residual minus random, seed by seed: mean 0


def toy_run(tmp_path: Path) -> Run:
    """Five seeds at one ratio. `bpb/in_domain` separates the criteria far beyond its seed noise; `bpb/ood` is
    noise alone, the same distribution for every criterion."""
    rng = np.random.default_rng(0)
    rows = []
    for crit, mean in BPB.items():
        for s in SEEDS:
            shared = 0.02 * s  # what every cell of a seed shares
            bpb = mean + shared + (WOBBLE[s] if crit == "information-residual" else 0.0)
            rows += [{"criterion": crit, "ratio": 0.5, "seed": s, "metric": "bpb/in_domain", "value": bpb},
                     {"criterion": crit, "ratio": 0.5, "seed": s, "metric": "bpb/ood", "value": rng.normal(3, 0.1)}]
    return Run(dir=tmp_path, results=pd.DataFrame(rows))


def test_seed_halves_are_disjoint_and_all_there():
    halves = seed_halves(list(SEEDS))
    assert len(halves) == 15  # C(5,2) * C(3,2) / 2
    assert all(len(a) == len(b) == 2 and not set(a) & set(b) for a, b in halves)
    assert seed_halves([0]) == [] and len(seed_halves([0, 1, 2])) == 3


def test_a_separating_metric_ranks_and_a_noisy_one_does_not(tmp_path):
    run = toy_run(tmp_path)
    good, noisy = signal_noise(run, "bpb/in_domain", 0.5), signal_noise(run, "bpb/ood", 0.5)
    assert good["decisive"] and good["tau_min"] > 0.5 and good["snr"] > 10
    assert not noisy["decisive"] and noisy["snr"] < 1.5
    means = np.array(list(BPB.values()))
    assert good["signal"] == pytest.approx(np.std(means, ddof=1), rel=1e-6)
    assert good["noise"] == pytest.approx(np.std([0.02 * s for s in SEEDS], ddof=1), rel=0.2)


def test_the_verdict_is_written_from_the_numbers(tmp_path):
    run = toy_run(tmp_path)
    rows = stability(run)
    found = {(v["criterion"], v["metric"]): v for v in verdicts(run, rows)}
    assert set(m for _, m in found) == {"bpb/in_domain"}  # the noisy metric is never tested
    assert found[("information", "bpb/in_domain")]["verdict"] == "better than"
    assert found[("entropy", "bpb/in_domain")]["verdict"] == "worse than"
    assert found[("information-residual", "bpb/in_domain")]["verdict"] == "no different from"
    assert ("length", "bpb/in_domain") not in found  # not one of the seed paper's criteria
    text = verdict_text(run, verdicts(run, rows), rows)
    assert "`information`: better than random on in-domain bits per byte at 0.5 (-0.3," in text
    assert "`entropy`: worse than random on in-domain bits per byte at 0.5 (+0.3," in text
    assert "`information-residual`: no detectable difference in 1 other (metric, ratio) pairs." in text


def test_report_writes_the_tables_and_twins_and_terms(tmp_path):
    folder = make_run(tmp_path / "run", seeds=(0, 1, 2, 3))
    pool = pd.read_parquet(folder / "pool.parquet")
    x, y = np.random.default_rng(1).normal(size=(2, len(pool)))
    pd.DataFrame({"id": pool.id, "entropy/big": x, "entropy/small": 0.1 * y}).to_parquet(folder / "terms.parquet")
    report(folder)
    run = load_run(folder)
    page = (folder / "report.md").read_text()
    for title in ("Table 4: which metrics can rank", "Table 5: the seed paper's criteria", "Table 6: what each",
                  "Table 7: what each term"):
        assert title in page
    # `length` scores are the token counts and n_bytes is 4 x tokens: it is all length.
    profiles = pd.read_csv(folder / "tables" / "profiles.csv")
    assert profiles.set_index("criterion").loc["length", "spearman_length"] == pytest.approx(1.0)
    assert "Mostly sample length" in page and "`length` (+1.00)" in page
    terms = terms_table(run).data.set_index("term")
    assert terms.variance_share.sum() == pytest.approx(1.0)
    assert terms.loc["big", "variance_share"] > 0.95
    # Twins: give `perplexity:keep=middle` the kept sets of `random`; the pair is named once.
    cells = {p: json.loads(p.read_text()) for p in (folder / "cells").glob("*.json") if ".failed" not in p.name}
    masks = {(r["ratio"], r["seed"]): r["kept_mask"] for r in cells.values() if r["criterion"] == "random"}
    for path, rec in cells.items():
        if rec["criterion"] == "perplexity:keep=middle":
            path.write_text(json.dumps(rec | {"kept_mask": masks[(rec["ratio"], rec["seed"])]}))
    pairs = twins(load_run(folder))
    assert len(pairs) == 1 and set(next(iter(pairs))) == {"perplexity:keep=middle", "random"}
    assert next(iter(pairs.values())) == "keep the same samples (100% at 0.25, 100% at 0.5)"
