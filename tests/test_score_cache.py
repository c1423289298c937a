"""The score cache recomputes exactly when its key changes: criterion, version, parameters, pool, probe."""

from dataclasses import replace

import pytest

from conftest import tiny_config

from infoprune.config import CriterionSpec
from infoprune.criterion import REGISTRY
from infoprune.pipeline import Pipeline


@pytest.fixture
def calls(monkeypatch):
    """Counts real score() calls on a whole pool per criterion name (not those of the per_sample check)."""
    counts: dict[str, int] = {}
    REGISTRY.discover()  # run alone, this file may be the first to need the criteria
    for name in ("length", "information"):
        cls = REGISTRY.entries[name]
        real = cls.score

        def counting(self, samples, ctx, real=real, name=name):
            if len(samples) > Pipeline.PER_SAMPLE_CHECK:
                counts[name] = counts.get(name, 0) + 1
            return real(self, samples, ctx)

        monkeypatch.setattr(cls, "score", counting)
    return counts


def score(cfg, spec: str, seed: int = 0):
    name, _, param = spec.partition(":")
    params = (tuple(param.split("=")),) if param else ()
    return Pipeline(cfg, log=lambda m: None).scores(CriterionSpec(name, params), seed)


def test_unchanged_key_never_recomputes(corpus_file, tmp_path, calls):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    first = score(cfg, "information")
    again = score(cfg, "information")  # a new pipeline, as in a new process: only the disk cache is shared
    assert calls == {"information": 1}
    assert (first == again).all()
    score(cfg, "information", seed=5)  # information does not depend on the seed
    assert calls == {"information": 1}


def test_each_part_of_the_key_recomputes(corpus_file, tmp_path, calls, monkeypatch):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    score(cfg, "length"), score(cfg, "information")
    score(cfg, "length:unit=bytes")  # parameters
    assert calls == {"length": 2, "information": 1}
    bigger_pool = replace(cfg, data=replace(cfg.data, pool_bytes=cfg.data.pool_bytes * 2))
    score(bigger_pool, "length")  # the pool
    assert calls["length"] == 3
    other_probe = replace(cfg, probe_train=replace(cfg.probe_train, lr=cfg.probe_train.lr / 2))
    score(other_probe, "length"), score(other_probe, "information")  # the probe: only probe criteria
    assert calls == {"length": 3, "information": 2}
    monkeypatch.setattr(REGISTRY.entries["length"], "version", "2")  # the criterion's version
    score(cfg, "length")
    assert calls["length"] == 4


def test_a_corrupt_score_file_is_recomputed(corpus_file, tmp_path, calls):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    score(cfg, "length")
    for path in (tmp_path / "data" / "scores").glob("length-*.npy"):
        path.write_bytes(b"garbage")
    score(cfg, "length")
    assert calls["length"] == 2


def test_a_run_that_reuses_cached_scores_still_reports_what_they_cost(corpus_file, tmp_path):
    from infoprune.runbook import run
    from infoprune.report.compute import accounting
    from infoprune.report.rundata import load_run

    for out in ("first", "second"):  # the second run shares the data cache: the probe and scores are cached
        assert run(tiny_config(corpus_file, tmp_path / out, tmp_path / "data", criteria="length,information"),
                   log=lambda m: None) == 0
    first, second = (load_run(tmp_path / out).manifest for out in ("first", "second"))
    assert {"probe", "score/length", "score/information"} <= set(first["timings"])
    assert not {"probe", "score/length", "score/information"} & set(second["timings"])
    for stage in ("probe", "probe_nll", "score/length", "score/information"):
        assert second["cached_costs"][stage]["seconds"] == first["timings"][stage], stage
        assert second["cached_costs"][stage]["where"]["device"] == "cpu"
    table, _ = accounting(load_run(tmp_path / "second"))
    row = table.data.set_index("criterion").loc["information"]
    assert row.scoring_s == first["timings"]["score/information"] and row.one_off_s > row.scoring_s
    assert any(note.startswith("* from the cache") for note in table.notes)
