"""The committed runs in results/: each report and comparison regenerates from the run folders alone, and the
README shows what they hold."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from infoprune.report import report
from infoprune.report.compare import compare

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
RUNS = sorted(d for d in RESULTS.iterdir() if (d / "results.csv").exists())
COMPARISONS = sorted(d for d in RESULTS.glob("compare-*") if (d / "compare.md").exists())


@pytest.mark.parametrize("run", RUNS, ids=lambda d: d.name)
def test_reporting_a_committed_run_again_changes_no_table(run, tmp_path):
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    report(copy)
    for table in sorted((run / "tables").iterdir()):
        assert (copy / "tables" / table.name).read_bytes() == table.read_bytes(), table.name
    assert (copy / "report.md").read_bytes() == (run / "report.md").read_bytes()


@pytest.mark.parametrize("folder", COMPARISONS, ids=lambda d: d.name)
def test_comparing_the_committed_runs_again_changes_nothing(folder, tmp_path):
    runs = pd.read_csv(folder / "compare_deltas.csv")  # the run names, which may hold '-' themselves
    names = list(dict.fromkeys([*runs.run_a, *runs.run_b]))
    out = tmp_path / folder.name
    compare([RESULTS / n for n in names], out)
    for name in ("compare.md", "compare.csv", "compare_deltas.csv", "compare.tex"):
        assert (out / name).read_bytes() == (folder / name).read_bytes(), name


@pytest.mark.skipif(not (RESULTS / "default" / "results.csv").exists(), reason="no committed run in results/default")
def test_the_readme_table_1_is_the_committed_one():
    table = [line for line in (RESULTS / "default" / "tables" / "table1.md").read_text().splitlines()
             if line.startswith("|")]
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index(table[0])  # the header row
    assert readme[start : start + len(table)] == table


@pytest.mark.skipif(not (RESULTS / "default" / "report.md").exists(), reason="no committed run in results/default")
def test_the_readme_quotes_the_report_word_for_word():
    report_lines = set((RESULTS / "default" / "report.md").read_text().splitlines())
    quotes = [line[2:] for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("> ")]
    assert quotes and all(q in report_lines for q in quotes)
