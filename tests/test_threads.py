"""The same numbers whatever the thread count: every criterion's scores, and a run's results, from fresh
processes with 1 and with 2 threads (torch, OpenMP and BLAS alike), are the same bytes.

The smoke preset's model is big enough for the thread count to matter: without MKL's strict mode its
weight gradients, summed over 2,048 tokens a batch, came out differently with 1 and 2 threads (determinism.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_documents, write_jsonl
from test_downstream_run import items
from test_harness import write_task

from infoprune.tasks import local_names

THREADS = (1, 2)


def bench(tmp_path: Path, threads: int, *argv: str) -> None:
    env = os.environ | {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.pop("MKL_CBWR", None)  # the suite's own setting, as a user gets it
    proc = subprocess.run([sys.executable, "-m", "bench", *argv, "--preset", "smoke", "--ood", "letters/work3",
                           "--data-dir", str(tmp_path / f"data-{threads}")], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "c.jsonl", make_documents(400, seed=4))


def test_every_criterion_scores_the_same_with_1_and_2_threads(tmp_path, corpus):
    for t in THREADS:
        bench(tmp_path, t, "score", "--criteria", "all", "--corpus", f"jsonl:{corpus}", "--out",
              str(tmp_path / f"scores-{t}.parquet"))
    one, two = (pd.read_parquet(tmp_path / f"scores-{t}.parquet") for t in THREADS)
    assert len(one.columns) > 10 and len(one) > 100
    for column in one.columns:
        assert one[column].equals(two[column]), column
    assert (tmp_path / "scores-1.parquet").read_bytes() == (tmp_path / "scores-2.parquet").read_bytes()


def test_a_compiled_two_cell_run_gives_the_same_results_with_1_and_2_threads(tmp_path, corpus):
    for t in THREADS:
        for i, name in enumerate(local_names()):  # the smoke preset's tasks, ready in the cache
            write_task(tmp_path / f"data-{t}", name, items(30, i))
        bench(tmp_path, t, "run", "--criteria", "information", "--ratios", "0.5", "--compile", "on",
              "--corpus", f"jsonl:{corpus}", "--out", str(tmp_path / f"run-{t}"))
    one, two = (pd.read_csv(tmp_path / f"run-{t}" / "results.csv") for t in THREADS)
    assert set(one.criterion) == {"full", "information"} and (one.metric == "downstream/acc_norm").any()
    pd.testing.assert_frame_equal(one, two, check_exact=True)
