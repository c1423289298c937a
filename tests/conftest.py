"""Tiny corpora and configs built in-process: the tests never fetch packages or touch the network."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import infoprune.pipeline as pipeline

from infoprune.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from infoprune.criterion import Criterion, ScoringContext
from infoprune.documents import Document
from infoprune.model import build_model
from infoprune.samples import chunk
from infoprune.scoring import token_nll
from infoprune.tokenizer import eos_id, train_tokenizer
from infoprune.train import train

WORDS = (
    "the a of and to in is was he she it that his her with as for had you not be on at by which have or from "
    "this him but all they were my are me one their so an said them we who would been will no when there if "
    "more out up into do any your what has man could other than our some very time upon about may its only"
).split()


def make_documents(n: int = 120, seed: int = 0, sources=("tales", "letters", "notes")) -> list[Document]:
    """Pseudo-English documents of varied length from a few sources; deterministic for a seed."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        source = sources[i % len(sources)]
        n_words = rng.randint(20, 160)
        text = " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."
        docs.append(Document(f"{source}/work{i % 7}/{i:04d}", source, text))
    return docs


def write_jsonl(path: Path, docs: list[Document]) -> Path:
    path.write_text("".join(json.dumps({"id": d.id, "source": d.source, "text": d.text}) + "\n" for d in docs))
    return path


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "corpus.jsonl", make_documents())


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests run tiny models: one torch thread each, in-process and in subprocesses. With two threads on two
    shared cores a 12-cell test run took 34 s instead of 3 s, with identical results."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setenv("OMP_NUM_THREADS", "1")
    yield
    mp.undo()
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def no_fetching(monkeypatch, request):
    """Tests never fetch packages: a command that would reach a package registry (apt-get, pip download) fails
    here, unless the test replaced subprocess.run with a stand-in of its own (the tests of the fetch itself) or
    is marked `fetches` (slow tests of the real default corpus, outside the default run)."""
    import subprocess

    if request.node.get_closest_marker("fetches"):
        return

    from infoprune.sources import _fetch

    real, genuine = _fetch._run, subprocess.run

    def guarded(cmd, *args, **kwargs):
        if _fetch.subprocess.run is genuine and (cmd[0] == "apt-get" or "download" in cmd):
            raise AssertionError(f"a test tried to reach a package registry: {' '.join(map(str, cmd[:6]))}")
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(_fetch, "_run", guarded)


@pytest.fixture
def count_training(monkeypatch):
    """Counts cells trained (the probe excluded) while still training them."""
    calls = []
    real = pipeline.train

    def counting(model, samples, cfg, *args, **kwargs):
        calls.append(len(samples))
        return real(model, samples, cfg, *args, **kwargs)

    monkeypatch.setattr(pipeline, "train", counting)
    return calls


# Two plugins that fail their cells: one raises, one returns NaN scores.
class Exploding(Criterion):
    name = "exploding"
    keeps = "nothing: it raises"

    def score(self, samples, ctx):
        raise RuntimeError("boom")


class NotANumber(Criterion):
    name = "nan-scores"
    keeps = "nothing: it returns NaN"

    def score(self, samples, ctx):
        return np.full(len(samples), np.nan)


def tiny_config(corpus: Path, out: Path, data_dir: Path, **overrides) -> RunConfig:
    """A run small enough for a unit test: a 1-layer, 32-wide model and a few hundred tokens per cell."""
    from infoprune.criterion import parse_specs

    base = RunConfig(
        preset="test",
        criteria=parse_specs(overrides.pop("criteria", "random,length,information")),
        ratios=overrides.pop("ratios", (0.5,)),
        seeds=overrides.pop("seeds", (0,)),
        data=DataConfig(corpus=f"jsonl:{corpus}", probe_bytes=4_000, pool_bytes=12_000, test_bytes=3_000, dev_bytes=3_000,
                        ood="letters/work3", ood_bytes=2_000),
        model=ModelConfig(vocab_size=300, seq_len=32, d_model=32, n_layers=1, n_heads=2, d_ff=64),
        train=TrainConfig(budget="tokens:2048", batch_size=4, precision="fp32"),
        probe_train=TrainConfig(budget="tokens:4096", batch_size=4, precision="fp32"),
        keep_models=False,  # every cell trains: the tests of resume and recomputation count trainings
        out=str(out),
        data_dir=str(data_dir),
    )
    from dataclasses import replace

    return replace(base, **overrides)


REPEATED = "the cat sat on the mat. " * 6


def gibberish(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("qxzjkvwy ") for _ in range(n))


@pytest.fixture(scope="session")
def toy_probe():
    """A tokenizer, and a tiny probe LM trained on one repeated sentence, as (chunk_fn, context).

    Under that probe the sentence is cheap and gibberish is expensive, so criteria built on the probe
    have a known answer. `chunk_fn(documents)` cuts documents into samples with the probe's tokenizer.
    """
    rng = random.Random(0)
    probe_docs = [Document(f"probe/x/{i:04d}", "probe", REPEATED) for i in range(40)]
    tok = train_tokenizer(probe_docs + [Document("g/g/0", "g", gibberish(rng, 3000))], 300)
    model = build_model(ModelConfig(vocab_size=300, seq_len=64, d_model=32, n_layers=1, n_heads=2, d_ff=64), 0)
    train(model, chunk(probe_docs, tok, 64),
          TrainConfig(budget="tokens:30000", batch_size=8, lr=1e-2, precision="fp32"), 64, eos_id(tok), seed=0)
    ctx = ScoringContext(seed=7, nll=lambda s: token_nll(model, s, eos_id(tok), precision="fp32"))
    return (lambda docs: chunk(docs, tok, 64)), ctx
