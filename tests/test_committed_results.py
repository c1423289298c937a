"""The committed run in results/default: its report regenerates from the store alone, and the README shows it."""

import shutil
from pathlib import Path

import pytest

from infoprune.report import report

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "results" / "default"

pytestmark = pytest.mark.skipif(not (RUN / "results.csv").exists(), reason="no committed run in results/default")


def test_reporting_the_committed_run_again_changes_no_table(tmp_path):
    copy = tmp_path / "default"
    shutil.copytree(RUN, copy)
    report(copy)
    for table in sorted((RUN / "tables").iterdir()):
        assert (copy / "tables" / table.name).read_bytes() == table.read_bytes(), table.name
    assert (copy / "report.md").read_bytes() == (RUN / "report.md").read_bytes()


def test_the_readme_table_1_is_the_committed_one():
    table = [line for line in (RUN / "tables" / "table1.md").read_text().splitlines() if line.startswith("|")]
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index(table[0])  # the header row
    assert readme[start : start + len(table)] == table
