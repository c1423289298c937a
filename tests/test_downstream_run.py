"""A run with downstream tasks: rows for every cell, what the report needs in the run folder, and a model
cache that lets a changed task list re-evaluate without retraining."""

import base64
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config
from test_harness import write_task

from infoprune.runbook import run


def items(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    words = ["letter", "window", "garden", "silver", "mother", "winter", "summer", "little"]
    return [{"id": f"{seed}-{i}", "query": f"A {words[i % 8]} and a", "gold": int(i % 4),
             "choices": [words[j] for j in rng.choice(8, 4, replace=False)]} for i in range(n)]


def test_every_cell_gets_downstream_rows_and_the_report_inputs(corpus_file, tmp_path, count_training):
    data = tmp_path / "data"
    write_task(data, "wordnet_define", items(24, 0))
    write_task(data, "fortune_complete", items(16, 1))
    cfg = tiny_config(corpus_file, tmp_path / "out", data, tasks=("wordnet_define",), keep_models=True)
    assert run(cfg) == 0
    out = tmp_path / "out"
    frame = pd.read_csv(out / "results.csv")
    per_cell = frame[frame.metric == "task/wordnet_define/acc"].groupby(["criterion", "ratio", "seed"]).size()
    assert len(per_cell) == 4 and (per_cell == 1).all()
    assert {"downstream/centered", "downstream/acc_norm", "task/wordnet_define/chance"} <= set(frame.metric)

    pool = pd.read_parquet(out / "pool.parquet")
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns) == ["id", "random", "length", "information"]
    assert (scores.id == pool.id).all() and pool.excerpt.str.len().max() <= 160
    for path in (out / "cells").glob("*[0-9a-f].json"):
        cell = json.loads(path.read_text())
        mask = np.unpackbits(np.frombuffer(base64.b64decode(cell["kept_mask"]), dtype=np.uint8))[: len(pool)]
        assert mask.sum() == cell["kept_samples"] == sum(cell["kept_by_source"].values())
        assert pool.n_tokens[mask.astype(bool)].sum() == cell["kept_tokens"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tasks"]["wordnet_define"]["items"] == 24 and manifest["model"]["params"] > 0

    trained = len(count_training)
    more = replace(cfg, tasks=("wordnet_define", "fortune_complete"))
    assert run(more) == 0  # a new task list: new cells, the same trained models
    assert len(count_training) == trained
    again = pd.read_csv(out / "results.csv")
    assert set(again[again.metric.str.startswith("task/fortune")].criterion) == set(frame.criterion)
    same = ["criterion", "ratio", "seed", "metric"]
    kept = frame[~frame.metric.str.startswith("downstream/")]  # the averages now cover two tasks
    merged = kept.merge(again, on=same, suffixes=("", "_again"))
    assert len(merged) == len(kept) and (merged.value == merged.value_again).all()


def test_an_unknown_task_stops_the_run_before_any_training(corpus_file, tmp_path, count_training):
    from infoprune.errors import UserError

    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", tasks=("wordnet_defin",))
    with pytest.raises(UserError, match="Did you mean 'wordnet_define'"):
        run(cfg)
    assert count_training == []
