"""`bench score` then `bench prune` on a user's own jsonl corpus."""

import json

import pandas as pd
import pytest

from conftest import make_documents, write_jsonl

from bench.cli import main
from infoprune.select import n_kept


@pytest.fixture
def scored(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "mine.jsonl", make_documents(150))
    scores = tmp_path / "scores.parquet"
    code = main(["score", "--preset", "smoke", "--criteria", "length,random,information", "--corpus",
                 f"jsonl:{corpus}", "--out", str(scores), "--data-dir", str(tmp_path / "d")])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return scores


def test_score_writes_one_row_per_pool_sample_with_each_criterion(scored):
    table = pd.read_parquet(scored)
    assert {"id", "source", "text", "length", "random", "information"} <= set(table.columns)
    assert table["id"].is_unique and len(table) > 50
    assert (table["length"] == table["n_tokens"]).all()


def test_prune_keeps_the_criterion_direction(scored, tmp_path, capsys):
    kept_path = tmp_path / "kept.jsonl"
    assert main(["prune", "--scores", str(scored), "--criterion", "length", "--ratio", "0.5",
                 "--out", str(kept_path)]) == 0
    table = pd.read_parquet(scored)
    kept = [json.loads(line) for line in kept_path.read_text().splitlines()]
    assert len(kept) == n_kept(len(table), 0.5)
    kept_ids = {k["id"] for k in kept}
    assert table[table.id.isin(kept_ids)].length.min() >= table[~table.id.isin(kept_ids)].length.max()
    assert main(["prune", "--scores", str(scored), "--criterion", "length", "--ratio", "0.5", "--mode", "bottom",
                 "--out", str(kept_path)]) == 0
    bottom = {json.loads(line)["id"] for line in kept_path.read_text().splitlines()}
    assert table[table.id.isin(bottom)].length.max() <= table[~table.id.isin(bottom)].length.min()


@pytest.mark.parametrize("argv,expected", [
    (["--criterion", "perplexity", "--ratio", "0.5"], "has no criterion 'perplexity'; it has: length, random, information"),
    (["--criterion", "length", "--ratio", "1.0"], "outside (0, 1)"),
])
def test_prune_bad_input(scored, tmp_path, capsys, argv, expected):
    assert main(["prune", "--scores", str(scored), "--out", str(tmp_path / "k.jsonl"), *argv]) == 2
    assert expected in capsys.readouterr().err


def test_prune_of_a_missing_scores_file(tmp_path, capsys):
    assert main(["prune", "--scores", str(tmp_path / "no.parquet"), "--criterion", "length", "--ratio", "0.5",
                 "--out", str(tmp_path / "k.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_diagnose_reports_each_planted_kind(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "mine.jsonl", make_documents(150))
    out = tmp_path / "diag"
    code = main(["diagnose", "--preset", "smoke", "--criteria", "compression,information", "--ratios", "0.5",
                 "--corpus", f"jsonl:{corpus}", "--out", str(out), "--data-dir", str(tmp_path / "d")])
    assert code == 0, capsys.readouterr().err
    frame = pd.read_csv(out / "diagnose.csv")
    assert set(frame.kind) == {"clean", "duplicate", "boilerplate", "gibberish"}
    share = frame.set_index(["criterion", "kind"]).pruned_share
    # Description length is highest for random characters: the information criterion keeps all of them.
    assert share[("information", "gibberish")] == 0.0
    # Per-sample zlib cannot see a footer repeated across samples: compression keeps the boilerplate.
    assert share[("compression", "boilerplate")] == 0.0
    assert "| compression |" in capsys.readouterr().out
