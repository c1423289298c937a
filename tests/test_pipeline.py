"""A whole run on a tiny corpus: results and manifest, resume, determinism, no stale reuse, failing cells."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd

from conftest import Exploding, NotANumber, tiny_config

from infoprune.criterion import REGISTRY
from infoprune.runbook import run
from infoprune.report import report


def cell_files(out):
    return sorted((out / "cells").glob("*[0-9a-f].json"))


def test_run_writes_one_row_per_cell_and_metric_and_a_manifest(corpus_file, tmp_path):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", seeds=(0, 1))
    assert run(cfg) == 0
    frame = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(frame.criterion) == {"full", "random", "length", "information"}
    assert len(cell_files(tmp_path / "out")) == 8
    per_cell = frame.groupby(["criterion", "ratio", "seed"]).size()
    assert len(per_cell) == 8 and per_cell.nunique() == 1
    assert {"bpb/in_domain", "ppl/in_domain", "bpb/ood"} <= set(frame.metric)
    assert not frame.duplicated(["criterion", "ratio", "seed", "metric"]).any()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    streams = manifest["seed_streams"]
    all_seeds = [v for s in streams.values() for v in s.values()]
    assert len(set(all_seeds)) == len(all_seeds)  # every stream of every seed is distinct
    assert manifest["corpus"]["fingerprint"] and manifest["versions"]["torch"]
    assert all(c["status"] == "done" for c in manifest["cells"])
    assert manifest["split"]["pool"]["tokens"] > 0


def test_second_invocation_recomputes_nothing(corpus_file, tmp_path, count_training):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    run(cfg)
    first = (tmp_path / "out" / "results.csv").read_text()
    trained = len(count_training)
    assert run(cfg) == 0
    assert len(count_training) == trained
    assert (tmp_path / "out" / "results.csv").read_text() == first


def test_resume_reruns_only_the_missing_cell_and_gets_the_same_numbers(corpus_file, tmp_path, count_training):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    run(cfg)
    before = pd.read_csv(tmp_path / "out" / "results.csv")
    victim = cell_files(tmp_path / "out")[0]
    victim.unlink()  # as if the run had been killed before this cell finished
    (victim.parent / f".{victim.name}.123.tmp").write_text('{"half": ')  # and left a partial temp file
    calls = len(count_training)
    assert run(cfg) == 0
    assert len(count_training) == calls + 1
    after = pd.read_csv(tmp_path / "out" / "results.csv")
    pd.testing.assert_frame_equal(before, after)


def test_a_corrupt_cell_file_is_recomputed(corpus_file, tmp_path, count_training):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    run(cfg)
    cell_files(tmp_path / "out")[0].write_text("{not json")
    calls = len(count_training)
    run(cfg)
    assert len(count_training) == calls + 1


def test_a_changed_config_never_reuses_cells(corpus_file, tmp_path, count_training):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    run(cfg)
    calls = len(count_training)
    run(replace(cfg, train=replace(cfg.train, lr=cfg.train.lr / 2)))
    assert len(count_training) == calls + 4


def test_the_same_config_gives_identical_results_in_a_fresh_folder(corpus_file, tmp_path):
    a = tiny_config(corpus_file, tmp_path / "a", tmp_path / "data-a")
    b = tiny_config(corpus_file, tmp_path / "b", tmp_path / "data-b")
    run(a), run(b)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "results.csv"),
                                  pd.read_csv(tmp_path / "b" / "results.csv"))


def test_a_failing_criterion_is_recorded_and_other_cells_finish(corpus_file, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY.entries, "exploding", Exploding)
    monkeypatch.setitem(REGISTRY.entries, "nan-scores", NotANumber)
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", criteria="exploding,length,nan-scores")
    assert run(cfg) == 2
    frame = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(frame.criterion) == {"full", "length"}
    failures = [json.loads(p.read_text()) for p in (tmp_path / "out" / "cells").glob("*.failed.json")]
    assert sorted(f["cell"] for f in failures) == ["exploding", "nan-scores"]
    assert any("boom" in f["traceback"] for f in failures)
    assert any("NaN" in f["error"] for f in failures)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sorted(c["status"] for c in manifest["cells"]) == ["done", "done", "failed", "failed"]
    text = report(tmp_path / "out")
    assert "| exploding | failed |" in text and "| nan-scores | failed |" in text and "| length | 3." in text


def test_a_summed_score_stores_its_terms_and_they_add_up_to_it(corpus_file, tmp_path):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", criteria="entropy,entropy:normalize=bits,length")
    assert run(cfg, log=lambda _: None) == 0
    scores, terms = (pd.read_parquet(tmp_path / "out" / f) for f in ("scores.parquet", "terms.parquet"))
    assert list(terms.id) == list(scores.id)
    # Only base criteria show their terms: a variant with parameters shares them or changes them, shown once.
    assert sorted(c for c in terms.columns if c != "id") == ["entropy/H(W,f)", "entropy/H(W,q)"]
    assert np.allclose(terms["entropy/H(W,f)"] + terms["entropy/H(W,q)"], scores["entropy"], rtol=0, atol=1e-12)
