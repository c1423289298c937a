"""A criterion from a package installed beside the suite, through the `infoprune.criteria` entry points."""

import subprocess
import sys
import textwrap

import pandas as pd

from conftest import make_documents, write_jsonl

PLUGIN = '''
"""shout: an outside criterion that keeps the samples with the most capital letters."""

import numpy as np

from infoprune.criterion import Criterion, register


@register
class Shout(Criterion):
    name = "shout"
    keeps = "the samples with the most capital letters"
    paper = "a test plugin"

    def score(self, samples, ctx):
        return np.array([sum(c.isupper() for c in s.text) for s in samples], dtype=float)
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=70"]
build-backend = "setuptools.build_meta"

[project]
name = "infoprune-shout"
version = "0.1"

[project.entry-points."infoprune.criteria"]
shout = "infoprune_shout:Shout"
'''


def test_an_installed_plugin_is_listed_and_scores(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "infoprune_shout").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (pkg / "infoprune_shout" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    listing = subprocess.run([sys.executable, "-m", "bench", "list"], env=env, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert "shout (v1) keeps the samples with the most capital letters" in listing.stdout

    corpus = write_jsonl(tmp_path / "c.jsonl", make_documents(60))
    scores = tmp_path / "scores.csv"
    run = subprocess.run([sys.executable, "-m", "bench", "score", "--preset", "smoke", "--criteria", "shout",
                          "--corpus", f"jsonl:{corpus}", "--out", str(scores), "--data-dir", str(tmp_path / "d")],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(scores)
    assert (table["shout"] == [sum(c.isupper() for c in t) for t in table["text"]]).all()
