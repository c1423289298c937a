"""`bench isa-check`: a run's scores recomputed with every library held to AVX2, compared with the run's."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_config

from bench.cli import main
from infoprune.runbook import run


def test_a_run_recomputed_under_avx2_keeps_the_same_samples(corpus_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(tiny_config(corpus_file, out, tmp_path / "data", criteria="length,information,perplexity"),
               log=lambda m: None) == 0
    assert main(["isa-check", str(out), "--retrain", "full", "--data-dir", str(tmp_path / "again")]) == 0
    result = json.loads((out / "isa_check.json").read_text())
    assert result["vector_units"]["torch"] == "AVX2" and result["vector_units"]["mkl"] in ("AVX2", "none")
    assert not result["vector_units"]["numpy_avx512"]
    kept = {row["criterion"]: row for row in result["kept"]}
    assert set(kept) == {"length", "information", "perplexity"}
    assert all(row["differ@0.5"] == 0 for row in kept.values())
    assert kept["information"]["max_rel_score_diff"] < 1e-4  # rounding noise, not another model
    assert {m["metric"] for m in result["metrics"]} >= {"bpb/in_domain", "bpb/ood"}
    assert "Kept sets identical to the run's: 3 of 3" in (out / "isa_check.md").read_text()
    capsys.readouterr()


@pytest.mark.parametrize("argv,expected", [
    (["isa-check", "{tmp}"], "is not a run folder"),
    (["isa-check", "{run}", "--isa", "sse2"], "unknown instruction set 'sse2'; valid: avx2"),
])
def test_isa_check_bad_input_is_one_line(argv, expected, corpus_file, tmp_path, capsys):
    out = tmp_path / "out"
    if "{run}" in argv:
        assert run(tiny_config(corpus_file, out, tmp_path / "data", criteria="length"), log=lambda m: None) == 0
    code = main([a.format(tmp=tmp_path, run=out) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and expected in err[-1]
