"""The report, on synthetic run folders written here: no model is trained, every test takes a second or two.

The folders follow the results-store schema of `bench run`: results.csv, cells/*.json (with kept sets by
source and as packed masks), manifest.json, pool.parquet, scores.parquet, and diagnose.csv.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infoprune.errors import UserError
from infoprune.report import report
from infoprune.report.figures import jaccard, spearman
from infoprune.report.render import md_escape, tex_escape
from infoprune.report.rundata import load_run
from infoprune.report.tables import paired_test

SOURCES = ("alpha", "beta", "gamma")
TASKS = {"alpha_define": 0.25, "beta_cloze": 0.5}
EFFECT = {"random": 0.0, "information": -0.05, "length": 0.02, "perplexity:keep=middle": 0.0}
ODD_TEXT = "pipes | and *stars* <b>tag</b> 50% & under_score [link](x) `code` #hash"


def _key(label: str, ratio: float, seed: int) -> str:
    return hashlib.sha256(f"{label}|{ratio}|{seed}".encode()).hexdigest()[:16]


def _select(scores: np.ndarray, ratio: float, mode: str, seed: int) -> np.ndarray:
    n, k = len(scores), round((1 - ratio) * len(scores))
    order = np.argsort(scores, kind="stable")
    if mode == "top":
        idx = order[n - k:]
    elif mode == "middle":
        start = (n - k) // 2
        idx = order[start:start + k]
    else:
        idx = np.random.default_rng(seed).permutation(n)[:k]
    mask = np.zeros(n, bool)
    mask[idx] = True
    return mask


def make_run(folder: Path, seeds=(0, 1, 2), ratios=(0.25, 0.5), budget="tokens:4000", new_parts=True,
             downstream=True, with_diagnose=True) -> Path:
    """A finished run: four criteria plus the full-data cells, one criterion that always failed, and one
    failed seed of `length` at ratio 0.5. `information` is better than random by 0.05 bpb at every seed."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    (folder / "cells").mkdir()
    n = 120
    source = np.array([SOURCES[i % 3] for i in range(n)])
    n_tokens = rng.integers(10, 100, n)
    excerpts = [f"sample {i} of {source[i]}: " + " ".join(["word"] * (i % 7 + 1)) for i in range(n)]
    excerpts[5] = ODD_TEXT
    pool = pd.DataFrame({"id": [f"{source[i]}/doc{i:03d}#0" for i in range(n)], "source": source,
                         "n_tokens": n_tokens, "n_bytes": n_tokens * 4, "excerpt": excerpts})
    scores = pd.DataFrame({"id": pool.id, "information": rng.normal(size=n), "length": n_tokens.astype(float),
                           "perplexity:keep=middle": rng.normal(size=n), "random": rng.uniform(size=n)})
    scores.loc[5, "information"] = 10.0  # the odd excerpt is the top example of `information`
    modes = {"information": "top", "length": "top", "perplexity:keep=middle": "middle", "random": "sample"}
    seed_shift = {s: 0.03 * s for s in seeds}  # what every cell of a seed shares: the pairing of the test
    rows, manifest_cells = [], []
    failed = {("length", 0.5, 2)}
    plan = [("full", 0.0, s) for s in seeds] + [(c, r, s) for c in EFFECT for r in ratios for s in seeds]
    for label, ratio, seed in plan:
        key = _key(label, ratio, seed)
        if (label, ratio, seed) in failed:
            manifest_cells.append({"key": key, "criterion": label, "ratio": ratio, "seed": seed, "status": "failed",
                                   "error": "RuntimeError: boom"})
            (folder / "cells" / f"{key}.failed.json").write_text(json.dumps(
                {"cell": label, "ratio": ratio, "seed": seed, "error": "RuntimeError: boom", "traceback": "..."}))
            continue
        mask = np.ones(n, bool) if label == "full" else _select(scores[label].to_numpy(), ratio, modes[label], seed)
        bpb = 3.0 + EFFECT.get(label, 0.0) + 0.1 * ratio + seed_shift[seed] + rng.normal(0, 0.002)
        metrics = {"bpb/in_domain": bpb, "ppl/in_domain": 2 ** (bpb * 2.5), "bpb/ood": bpb - 0.1,
                   "ppl/ood": 2 ** ((bpb - 0.1) * 2.5)}
        for s in SOURCES:
            metrics[f"bpb/in_domain/{s}"] = bpb + 0.01 * SOURCES.index(s)
            metrics[f"ppl/in_domain/{s}"] = 2 ** (metrics[f"bpb/in_domain/{s}"] * 2.5)
        if downstream:
            centered = []
            for task, chance in TASKS.items():
                acc = chance + rng.uniform(0, 0.1)
                metrics |= {f"task/{task}/acc": acc, f"task/{task}/acc_stderr": 0.02, f"task/{task}/acc_norm": acc,
                            f"task/{task}/acc_norm_stderr": 0.02, f"task/{task}/chance": chance}
                centered.append((acc - chance) / (1 - chance))
            metrics["downstream/acc_norm"] = float(np.mean([metrics[f"task/{t}/acc_norm"] for t in TASKS]))
            metrics["downstream/centered"] = float(np.mean(centered))
        rows += [{"criterion": label, "ratio": ratio, "seed": seed, "metric": m, "value": v}
                 for m, v in sorted(metrics.items())]
        record = {"key": key, "criterion": label, "ratio": ratio, "seed": seed, "kept_samples": int(mask.sum()),
                  "kept_tokens": int(n_tokens[mask].sum()), "metrics": metrics,
                  "train": {"steps": 10, "tokens": 4000, "final_loss": 5.0, "curve": [[0, 7.0], [9, 5.0]]},
                  "seconds": {"select": 0.01, "train": 2.0, "evaluate": 0.3, "downstream": 0.5}}
        if new_parts:
            record |= {"kept_by_source": {s: int((mask & (source == s)).sum()) for s in SOURCES},
                       "kept_tokens_by_source": {s: int(n_tokens[mask & (source == s)].sum()) for s in SOURCES},
                       "kept_mask": base64.b64encode(np.packbits(mask).tobytes()).decode()}
        (folder / "cells" / f"{key}.json").write_text(json.dumps(record))
        manifest_cells.append({"key": key, "criterion": label, "ratio": ratio, "seed": seed, "status": "done"})
    for ratio in ratios:
        for seed in seeds:
            manifest_cells.append({"key": _key("exploding", ratio, seed), "criterion": "exploding", "ratio": ratio,
                                   "seed": seed, "status": "failed", "error": "CriterionError: exploding: NaN scores"})
    pd.DataFrame(rows).sort_values(["criterion", "ratio", "seed", "metric"]).to_csv(folder / "results.csv", index=False)
    manifest = {
        "config": {"preset": "test", "data": {"corpus": "jsonl:x.jsonl"}, "probe": "own", "seeds": list(seeds),
                   "ratios": list(ratios), "train": {"budget": budget}, "probe_train": {"budget": "tokens:8000"},
                   "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "seq_len": 32, "vocab_size": 300}},
        "versions": {"python": "3.11.7"},
        "timings": {"probe": 3.0, "embed": 1.0, "score/information": 4.0, "score/length": 0.01,
                    "score/perplexity:keep=middle": 0.02, "score/random": 0.01},
        "split": {"probe": {"samples": 60, "tokens": 5000, "bytes": 20000},
                  "pool": {"samples": n, "tokens": int(n_tokens.sum()), "bytes": int(n_tokens.sum() * 4)},
                  "in_domain": {"samples": 20, "tokens": 1000, "bytes": 4000},
                  "ood": {"samples": 10, "tokens": 500, "bytes": 2000}},
        "probe": {"key": "p", "source": "own", "non_embedding_params": 5000},
        "model": {"non_embedding_params": 5000, "params": 14600},
        "tasks": {t: {"items": 40, "chance": c} for t, c in TASKS.items()},
        "cells": manifest_cells,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if new_parts:
        pool.to_parquet(folder / "pool.parquet", index=False)
        scores.to_parquet(folder / "scores.parquet", index=False)
    if with_diagnose:
        pd.DataFrame([{"criterion": c, "ratio": r, "kind": k, "pruned_share": 0.1 * i + r / 2}
                      for c in EFFECT for r in ratios
                      for i, k in enumerate(("clean", "duplicate", "boilerplate", "gibberish"))]
                     ).to_csv(folder / "diagnose.csv", index=False)
    return folder


ALL = ("md", "tex", "csv", "html")


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> tuple[Path, str]:
    """One synthetic run, reported once in every format; the tests below read what it wrote."""
    folder = make_run(tmp_path_factory.mktemp("report") / "run")
    return folder, report(folder, formats=ALL)


@pytest.fixture
def run_dir(reported) -> Path:
    return reported[0]


def test_report_writes_every_table_figure_and_the_page(reported):
    run_dir, text = reported
    assert "| full data |" in text and "| information |" in text
    for name in ("table1", "table1_ood", "table2", "table3", "examples", "compute"):
        for ext in ("md", "tex", "csv"):
            assert (run_dir / "tables" / f"{name}.{ext}").stat().st_size > 100, (name, ext)
    figures = ["bpb.png", "downstream.png", "composition.png", "agreement.png", "scores.png"]
    for name in figures:
        assert (run_dir / name).stat().st_size > 10_000, name
    page = (run_dir / "report.md").read_text()
    for name in figures:
        assert f"]({name})" in page
    for heading in ("Table 1:", "Table 2:", "Table 3:", "What each criterion kept", "Agreement between",
                    "Compute: is pruning worth it here?", "Failed cells"):
        assert heading in page, heading
    assert "preset `test`" in page and "seeds [0, 1, 2]" in page
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figures) and "<table>" in html


def test_a_second_report_changes_no_file(reported):
    run_dir, text = reported
    files = sorted(p for p in run_dir.rglob("*") if p.is_file() and p.parent.name != "cells")
    before = {p: p.read_bytes() for p in files}
    assert report(run_dir, formats=ALL) == text
    assert {p: p.read_bytes() for p in files} == before


def test_table1_means_significance_bold_and_failures(reported):
    run_dir, text = reported
    table1 = text.split("## Table 1b")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in table1.splitlines() if line.startswith("| ")}
    # information beats random by 0.05 at every seed: marked, and the best (bold) of its column
    assert "\\*" in rows["information"] and "**" in rows["information"].split(" | ")[1]
    assert "\\*" not in rows["random"]
    assert rows["exploding"].startswith("| exploding | failed |")
    assert "†" in rows["length"]
    assert "paired t-test" in text
    frame = pd.read_csv(run_dir / "results.csv")
    sel = (frame.metric == "bpb/in_domain") & (frame.criterion == "information") & (frame.ratio == 0.25)
    mean = frame[sel].value.mean()
    assert rows["information"].split(" | ")[1].startswith(f"**{mean:.4f}**")
    numbers = pd.read_csv(run_dir / "tables" / "table1.csv")
    info = numbers[(numbers.criterion == "information") & (numbers.metric == "bpb/in_domain")]
    assert (info.p_vs_random < 0.05).all() and (info.seeds_paired == 3).all()
    assert numbers[(numbers.criterion == "length") & (numbers.ratio == 0.5)].failed_seeds.astype(str).eq("2").all()


def test_one_seed_gets_no_mark_and_says_so(tmp_path):
    text = report(make_run(tmp_path / "one", seeds=(0,), new_parts=False, with_diagnose=False))
    assert "One seed (0): no spread and no significance test." in text
    assert "\\*" not in text.split("## Table 1b")[0].split("One seed")[0]


def test_paired_test_pairs_by_seed_number():
    a = {0: 1.0, 1: 2.0, 2: 3.5, 7: 100.0}
    b = {0: 1.1, 1: 2.2, 2: 3.6}
    p, n = paired_test(a, b)
    assert n == 3 and 0 < p < 1
    assert paired_test({0: 1.0}, {0: 2.0}) == (None, 1)
    assert paired_test({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})[0] is None  # no difference at all: undefined


def test_latex_table_is_booktabs_and_escaped(run_dir):
    tex = (run_dir / "tables" / "table1.tex").read_text()
    for part in (r"\toprule", r"\midrule", r"\bottomrule", r"\multicolumn{2}{c}{bpb $\downarrow$}",
                 r"\cmidrule(lr){2-3}", r"\textbf{", r"$\pm$", r"\label{tab:table1}", "$^{**}$", r"$^\dagger$"):
        assert part in tex, part
    examples = (run_dir / "tables" / "examples.tex").read_text()
    assert r"50\% \& under\_score" in examples
    assert tex_escape("a_b & 5% #1 {x}") == r"a\_b \& 5\% \#1 \{x\}"


def test_examples_show_both_ends_of_each_criterion_escaped(run_dir):
    md = (run_dir / "tables" / "examples.md").read_text()
    assert md_escape(ODD_TEXT) in md and "pipes \\| and \\*stars\\*" in md
    ex = pd.read_csv(run_dir / "tables" / "examples.csv")
    assert set(ex.criterion) == set(EFFECT)
    assert (ex.groupby(["criterion", "end"]).size() == 3).all()
    top = ex[(ex.criterion == "length") & (ex.end == "highest")].score.tolist()
    scores = pd.read_parquet(run_dir / "scores.parquet")
    assert top == sorted(scores.length, reverse=True)[:3]


def test_downstream_and_diagnostic_tables(run_dir):
    t2 = (run_dir / "tables" / "table2.md").read_text()
    assert "alpha\\_define (chance 0.25)" in t2 and "beta\\_cloze (chance 0.50)" in t2 and "centered" in t2
    t3 = (run_dir / "tables" / "table3.md").read_text()
    assert "gibberish @0.5" in t3 and "| information |" in t3
    t1 = (run_dir / "tables" / "table1.md").read_text()
    assert "down. ↑ @0.25" in t1


def test_compute_accounting_compute_matched_and_epochs(run_dir, tmp_path):
    page = (run_dir / "report.md").read_text()
    assert "compute-matched (tokens:4000)" in page and "saved no training compute" in page
    compute = pd.read_csv(run_dir / "tables" / "compute.csv").set_index("criterion")
    # information needs the probe: its scoring (4.0 s) already holds the probe's training (3.0 s)
    assert compute.loc["information", "one_off_s"] == pytest.approx(4.0)
    assert compute.loc["length", "one_off_lm_flops"] == 0
    pool_tokens = json.loads((run_dir / "manifest.json").read_text())["split"]["pool"]["tokens"]
    assert 0 < compute.loc["random", "saved_tokens_epochs1_0.5"] < pool_tokens
    epochs = make_run(tmp_path / "epochs", budget="epochs:1", new_parts=False, downstream=False, with_diagnose=False)
    report(epochs)
    assert "budget is epochs:1" in (epochs / "report.md").read_text()


def test_agreement_matrices(run_dir):
    run = load_run(run_dir)
    rho = spearman(run)
    assert rho.loc["length", "length"] == pytest.approx(1.0) and rho.shape == (4, 4)
    jac = jaccard(run, 0.5)
    assert np.allclose(np.diag(jac), 1.0) and ((jac.to_numpy() >= 0) & (jac.to_numpy() <= 1)).all()
    assert run.mask("information", 0.5).sum() == 60


def test_an_older_run_folder_reports_what_it_can(tmp_path):
    """No pool, scores, masks, downstream or diagnostic: the tables it can make, one figure, no error."""
    folder = make_run(tmp_path / "old", new_parts=False, downstream=False, with_diagnose=False)
    text = report(folder, formats=("md", "csv"))
    assert "| full data |" in text
    assert (folder / "bpb.png").exists() and not (folder / "composition.png").exists()
    assert not (folder / "tables" / "table2.md").exists() and (folder / "tables" / "table1.csv").exists()
    assert not (folder / "tables" / "table1.tex").exists() and not (folder / "report.html").exists()
    page = (folder / "report.md").read_text()
    assert "no downstream task metrics" in page and "Not run for this folder" in page


def test_only_results_csv(tmp_path):
    folder = make_run(tmp_path / "bare", new_parts=False, downstream=False, with_diagnose=False)
    (folder / "manifest.json").unlink()
    for p in (folder / "cells").glob("*.json"):
        p.unlink()
    text = report(folder)
    assert "| information |" in text and (folder / "report.md").exists()


def test_bad_formats_and_folders_are_user_errors(run_dir, tmp_path, capsys):
    with pytest.raises(UserError, match="valid formats: md, tex, csv, html"):
        report(run_dir, formats=("md", "pdf"))
    with pytest.raises(UserError, match="does not exist"):
        report(tmp_path / "nope")
    from bench.cli import main

    assert main(["report", str(run_dir), "--format", "docx"]) == 2
    assert "valid formats" in capsys.readouterr().err
