"""The criterion contract is checked, not trusted: a service used without its flag is refused, a name is
registered once, and one seed story holds from `bench run` to `bench prune`."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config
from test_concurrency import install_fakes

from bench.cli import main
from infoprune import criterion as registry
from infoprune.criterion import REGISTRY, Criterion, ScoringContext, register
from infoprune.errors import CriterionError
from infoprune.pipeline import Pipeline
from infoprune.runbook import run
from infoprune.samples import Sample


def sample(i: int) -> Sample:
    return Sample(f"x/{i}", "x", f"text {i}", np.arange(3, dtype=np.int32), 6)


POOL = [sample(i) for i in range(5)]
CONTEXT = ScoringContext(seed=3, nll=lambda s: [np.ones(3) for _ in s], embed=lambda s: np.ones((len(s), 4)),
                         target=[sample(9)])


def undeclared(service: str) -> type[Criterion]:
    reads = {"probe": lambda ctx, s: [x.sum() for x in ctx.token_nll(s)],
             "embedder": lambda ctx, s: ctx.embeddings(s)[:, 0],
             "seed": lambda ctx, s: [ctx.seed] * len(s),
             "target": lambda ctx, s: [len(ctx.target)] * len(s)}[service]

    class Sneaky(Criterion):
        name = "sneaky"

        def score(self, samples, ctx):
            return np.asarray(reads(ctx, samples), dtype=float)

    return Sneaky


@pytest.mark.parametrize("service,flag", list(registry.SERVICES.items()))
def test_a_service_used_without_its_flag_is_refused_and_with_it_recorded(service, flag):
    cls = undeclared(service)
    with pytest.raises(CriterionError, match=f"sneaky uses the {service} .* does not declare {flag} = True"):
        registry.score(cls(), POOL, CONTEXT, seed=3)
    declared = type("Declared", (cls,), {flag: True})
    scores, used = registry.score(declared(), POOL, CONTEXT, seed=3)
    assert len(scores) == len(POOL) and used == {service}


def test_an_undeclared_probe_use_fails_its_cells_with_one_line(corpus_file, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY.entries, "sneaky", undeclared("probe"))
    logs: list[str] = []
    assert run(tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", criteria="sneaky,length"),
               log=logs.append) == 1
    failed = [m for m in logs if "FAILED" in m]
    assert len(failed) == 1 and "does not declare uses_probe = True" in failed[0]
    assert set(pd.read_csv(tmp_path / "out" / "results.csv").criterion) == {"full", "length"}


def test_a_criterion_that_reads_the_pool_cannot_claim_per_sample(corpus_file, tmp_path, monkeypatch):
    class Ranked(Criterion):
        name = "ranked"
        per_sample = True  # wrongly: a rank depends on the rest of the pool

        def score(self, samples, ctx):
            return np.argsort(np.argsort([s.id for s in samples])).astype(float)

    monkeypatch.setitem(REGISTRY.entries, "ranked", Ranked)
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", criteria="ranked")
    with pytest.raises(CriterionError, match="declares per_sample = True, but .* depend on the pool"):
        Pipeline(cfg, log=lambda m: None).scores(cfg.criteria[0], 0)


def test_the_evaluation_text_is_not_offered_to_criteria():
    with pytest.raises(CriterionError, match="ctx.heldout is not offered; read ctx.target, the dev set held out"):
        CONTEXT.heldout  # noqa: B018


def test_a_second_criterion_of_the_same_name_is_refused_naming_both(monkeypatch):
    class First(Criterion):
        name = "twin"

    class Second(Criterion):
        name = "twin"

    monkeypatch.setitem(REGISTRY.entries, "twin", First)
    assert register(First) is First  # the same class again (a module imported twice) is no clash
    with pytest.raises(CriterionError, match=r"two criteria are named 'twin': .*First and .*Second"):
        register(Second)
    assert REGISTRY.entries["twin"] is First


def kept_ids(out, label: str, ratio: float, seed: int) -> set[str]:
    pool = pd.read_parquet(out / "pool.parquet")
    for path in (out / "cells").glob("*[0-9a-f].json"):
        rec = json.loads(path.read_text())
        if rec["criterion"] == label and rec["ratio"] == ratio and rec["seed"] == seed:
            bits = np.unpackbits(np.frombuffer(base64.b64decode(rec["kept_mask"]), dtype=np.uint8))[: len(pool)]
            return set(pool.id[bits.astype(bool)])
    raise AssertionError(f"no cell {label} {ratio} {seed}")


def test_bench_prune_reproduces_the_kept_set_of_a_run_cell_of_the_same_seed(corpus_file, tmp_path, monkeypatch,
                                                                          capsys):
    install_fakes(str(tmp_path), monkeypatch.setattr)  # hashed stand-in embeddings: no MiniLM in this test
    out, common = tmp_path / "out", ["--preset", "smoke", "--criteria", "density,random", "--corpus",
                                     f"jsonl:{corpus_file}", "--ood", "letters/work3", "--data-dir", str(tmp_path / "d")]
    assert main(["run", *common, "--ratios", "0.5", "--seeds", "2", "--tasks", "none", "--out", str(out)]) == 0
    assert kept_ids(out, "density", 0.5, 0) != kept_ids(out, "density", 0.5, 1)  # the seed matters
    for seed in (0, 1):
        scores = tmp_path / f"scores-{seed}.csv"
        assert main(["score", *common, "--seed", str(seed), "--out", str(scores)]) == 0
        for label, mode in (("density", "sample"), ("random", "top")):  # drawn by sampling; a seeded score
            kept = tmp_path / f"kept-{label}-{seed}.jsonl"
            assert main(["prune", "--scores", str(scores), "--criterion", label, "--ratio", "0.5", "--mode", mode,
                         "--seed", str(seed), "--out", str(kept)]) == 0
            ids = {json.loads(line)["id"] for line in kept.read_text().splitlines()}
            assert ids == kept_ids(out, label, 0.5, seed), (label, seed)
    capsys.readouterr()
