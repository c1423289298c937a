"""`bench compare` on toy run folders written here, whose answer is known, and `bench run --lr-scale`.

A toy run is results.csv plus manifest.json: each criterion's bits per byte is 3 + its effect + a shift shared by
every cell of a seed, so the seed means order the criteria exactly as the effects do, in every bootstrap resample.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from bench.cli import main, parser
from bench.presets import PRESETS, build_config
from infoprune.errors import UserError
from infoprune.report.compare import compare

EFFECTS = {"random": 0.0, "information": -0.05, "length": 0.02, "entropy": -0.01}


def write_run(folder: Path, effects: dict[str, float], ratios=(0.25, 0.5), seeds=(0, 1, 2), lr=3e-3,
              d_model=32, params=5000) -> Path:
    """A finished toy run: bpb (lower is better) and centered downstream accuracy (higher is better)."""
    rows = []
    for seed in seeds:
        cells = [("full", 0.0, 0.0)] + [(c, r, e) for c, e in effects.items() for r in ratios]
        for label, ratio, effect in cells:
            bpb = 3.0 + effect + 0.1 * ratio + 0.01 * seed  # the seed's shift: the same for all its cells
            rows += [{"criterion": label, "ratio": ratio, "seed": seed, "metric": "bpb/in_domain", "value": bpb},
                     {"criterion": label, "ratio": ratio, "seed": seed, "metric": "downstream/centered",
                      "value": 0.1 - effect}]
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    config = {"preset": "test", "seeds": list(seeds), "ratios": list(ratios), "data": {"corpus": "default"},
              "train": {"budget": "tokens:4000", "lr": lr}, "probe_train": {"budget": "tokens:8000", "lr": 3e-3},
              "model": {"d_model": d_model, "n_layers": 1}, "out": str(folder)}
    (folder / "manifest.json").write_text(json.dumps({"config": config, "model": {"non_embedding_params": params}}))
    return folder


def rows_of(out: Path, metric: str = "bpb/in_domain") -> pd.DataFrame:
    frame = pd.read_csv(out / "compare.csv", dtype={"ratio": str})
    return frame[frame.metric == metric].set_index("ratio")


def test_identical_rankings_agree_fully(tmp_path):
    a = write_run(tmp_path / "small", EFFECTS)
    b = write_run(tmp_path / "large", {c: 2 * e for c, e in EFFECTS.items()}, d_model=64, params=20000)
    text = compare([a, b])
    out = tmp_path / "compare-small-large"  # the default: beside RUN_A
    for metric in ("bpb/in_domain", "downstream/centered"):
        frame = rows_of(out, metric)
        assert list(frame.index) == ["0.25", "0.5", "all"]
        assert (frame.decision_accuracy == 1).all() and (frame.kendall_tau == 1).all()
        assert (frame.ci_low == 1).all() and (frame.ci_high == 1).all()
        assert (frame.pairs == [6, 6, 12]).all()
    # the direction is respected: information is best on bpb (lowest) and on downstream (highest) in both
    assert (rows_of(out).best_in_a_rank_in_b.dropna() == "information (1 of 4)").all()
    assert "carries over exactly" in text
    assert "model size (5,000 → 20,000 non-embedding parameters, d\\_model 32 → 64)" in text
    assert "learning rate" not in text.split("## ")[1].splitlines()[2]
    for name in ("compare.md", "compare.csv", "compare_deltas.csv", "compare.tex"):
        assert (out / name).stat().st_size > 100, name
    assert (out / "compare.png").stat().st_size > 10_000
    deltas = pd.read_csv(out / "compare_deltas.csv")
    assert len(deltas) == 2 * 3 * 2  # metrics x criteria other than random x ratios
    assert (deltas.delta_b - 2 * deltas.delta_a).abs().max() < 1e-9


def test_a_reversed_ranking_disagrees_fully(tmp_path):
    a = write_run(tmp_path / "a", EFFECTS)
    b = write_run(tmp_path / "b", {c: -e for c, e in EFFECTS.items()})
    text = compare([a, b], tmp_path / "out")
    frame = rows_of(tmp_path / "out")
    assert (frame.decision_accuracy == 0).all() and (frame.ci_high == 0).all()
    assert (frame.loc[["0.25", "0.5"]].kendall_tau == -1).all()
    assert (frame.best_in_a_rank_in_b.dropna() == "information (4 of 4)").all()
    assert "a's ranking predicts b's reversed" in text


def test_partial_overlap_compares_only_what_both_hold(tmp_path):
    a = write_run(tmp_path / "a", {"random": 0.0, "information": -0.05, "length": -0.1, "only_a": 0.3})
    b = write_run(tmp_path / "b", {"random": 0.0, "information": 0.02, "length": -0.1, "only_b": 0.3},
                  ratios=(0.5, 0.75))
    text = compare([a, b], tmp_path / "out")
    frame = rows_of(tmp_path / "out")
    # at 0.5 alone: A orders length < information < random, B length < random < information: 2 of 3 pairs alike
    assert list(frame.index) == ["0.5"]
    row = frame.loc["0.5"]
    assert row.criteria == 3 and row.pairs == 3
    assert row.decision_accuracy == pytest.approx(2 / 3) and row.kendall_tau == pytest.approx(1 / 3)
    assert "only in a, so left out: only\\_a" in text and "only in b, so left out: only\\_b" in text
    deltas = pd.read_csv(tmp_path / "out" / "compare_deltas.csv")
    assert sorted(set(deltas.criterion)) == ["information", "length"] and set(deltas.ratio) == {0.5}


def test_a_rerun_writes_the_same_bytes(tmp_path):
    a = write_run(tmp_path / "a", EFFECTS)
    b = write_run(tmp_path / "b", {"random": 0.0, "information": 0.01, "length": 0.02, "entropy": -0.03},
                  seeds=(0, 1, 2, 3))
    c = write_run(tmp_path / "c", EFFECTS, lr=6e-3)
    first = compare([a, b, c], tmp_path / "out")
    files = {n: (tmp_path / "out" / n).read_bytes() for n in ("compare.md", "compare.csv", "compare_deltas.csv")}
    assert compare([a, b, c], tmp_path / "out") == first
    assert {n: (tmp_path / "out" / n).read_bytes() for n in files} == files
    assert set(pd.read_csv(tmp_path / "out" / "compare.csv").run_b) == {"b", "c"}
    assert "c differs from a in learning rate 0.003 → 0.006." in first
    assert "b differs from a in seeds 0 1 2 → 0 1 2 3." in first


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("case,expected", [
    ("single", "needs two run folders or more"),
    ("twice", "is given twice"),
    ("missing", "does not exist"),
    ("not_a_run", "has no results.csv"),
    ("no_criteria", "share no criterion"),
    ("one_criterion", "share only 'random'"),
    ("no_ratios", "share no pruning ratio"),
])
def test_bad_input_gets_one_line_and_exit_2(capsys, tmp_path, case, expected):
    a = write_run(tmp_path / "a", EFFECTS)
    b = tmp_path / "b"
    other = {"single": lambda: [], "twice": lambda: [a], "missing": lambda: [tmp_path / "nope"],
             "not_a_run": lambda: [tmp_path],
             "no_criteria": lambda: [write_run(b, {"x": 0.0, "y": 1.0})],
             "one_criterion": lambda: [write_run(b, {"random": 0.0, "y": 1.0})],
             "no_ratios": lambda: [write_run(b, EFFECTS, ratios=(0.75,))]}[case]()
    code, err = run_cli(capsys, "compare", str(a), *map(str, other), "--out", str(tmp_path / "out"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and expected in err


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf", "fast"])
def test_a_bad_lr_scale_gets_one_line(capsys, tmp_path, scale):
    code, err = run_cli(capsys, "run", "--lr-scale", scale, "--out", str(tmp_path / "o"),
                        "--data-dir", str(tmp_path / "d"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--lr-scale" in err and "positive factor" in err


def config(*extra: str):
    return build_config(parser().parse_args(["run", "--criteria", "random", "--data-dir", "/tmp/unused", *extra]))


def test_lr_scale_changes_the_cells_lr_and_their_keys():
    from infoprune.pipeline import Cell, Pipeline

    base, same, double = config(), config("--lr-scale", "1"), config("--lr-scale", "2")
    lr = PRESETS["default"].train.lr
    assert base.train.lr == same.train.lr == lr and double.train.lr == pytest.approx(2 * lr)
    assert double.probe_train == base.probe_train  # the probe, and so every score, is shared
    assert (base.out, double.out) == ("runs/default", "runs/default-lr2")
    assert config("--lr-scale", "0.5", "--out", "x").out == "x"

    def key(cfg) -> str:
        pipe = Pipeline(cfg, log=lambda _: None)
        pipe.__dict__["corpus"] = SimpleNamespace(fingerprint="corpus")  # no corpus is read to key a cell
        return pipe.cell_key(Cell(cfg.criteria[0], 0.5, 0))

    assert key(base) == key(same) != key(double)


def test_compare_of_two_learning_rates_names_the_difference(capsys, tmp_path):
    a = write_run(tmp_path / "lr1", EFFECTS)
    b = write_run(tmp_path / "lr2", {"random": 0.0, "information": -0.03, "length": -0.04, "entropy": 0.01}, lr=6e-3)
    code = main(["compare", str(a), str(b)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "lr2 differs from lr1 in learning rate 0.003 → 0.006." in out
    assert "Comparison: " in out.splitlines()[-1] and (tmp_path / "compare-lr1-lr2" / "compare.md").exists()
    with pytest.raises(UserError, match="needs two run folders"):
        compare([a])


def test_report_style_folders_with_failed_cells(tmp_path):
    from test_report import make_run

    a = make_run(tmp_path / "a" / "run")
    b = make_run(tmp_path / "b" / "run", budget="tokens:8000")
    text = compare([a, b], tmp_path / "out")
    assert "b/run differs from a/run in training budget tokens:4000 → tokens:8000." in text
    assert "exploding" not in text  # every cell of it failed: nothing to rank
    frame = rows_of(tmp_path / "out")
    assert (frame.decision_accuracy == 1).all()  # the same numbers, written twice
    assert frame.loc["0.5"].criteria == 4  # length lacks a seed there: averaged over the seeds it has
