"""Compiled training (compiled.py): when `auto` compiles, and that compiled training is deterministic."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import infoprune.compiled as compiled
from infoprune.config import ModelConfig, TrainConfig
from infoprune.errors import UserError
from infoprune.model import build_model
from infoprune.samples import Sample
from infoprune.train import train

MODEL = ModelConfig(vocab_size=300, seq_len=32, d_model=32, n_layers=1, n_heads=2, d_ff=64)
needs_compiler = pytest.mark.skipif(compiled.cxx_compiler() is None, reason="inductor needs a C++ compiler on CPU")


def test_auto_compiles_long_trainings_only(monkeypatch):
    monkeypatch.setattr(compiled, "compiler_ready", lambda device: True)
    auto = TrainConfig(compile="auto")
    assert compiled.compiles(auto, "cpu", compiled.COMPILE_MIN_STEPS)
    assert compiled.compiles(auto, "cuda", compiled.COMPILE_MIN_STEPS)
    assert not compiled.compiles(auto, "cpu", compiled.COMPILE_MIN_STEPS - 1)  # would not pay back its compile
    assert compiled.compiles(replace(auto, compile="on"), "cpu", 1)
    assert not compiled.compiles(replace(auto, compile="off"), "cpu", 10_000)


def test_without_a_compiler_auto_stays_eager_and_on_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(compiled, "cxx_compiler", lambda: None)
    assert not compiled.compiles(TrainConfig(compile="auto"), "cpu", 10_000)
    with pytest.raises(UserError, match="C\\+\\+ compiler"):
        compiled.compiles(TrainConfig(compile="on"), "cpu", 10_000)
    with pytest.raises(UserError, match="choose one of auto, on, off"):
        compiled.compiles(TrainConfig(compile="yes"), "cpu", 10)


def test_the_cli_sets_compile_for_the_probe_and_the_cells():
    from bench.cli import parser
    from bench.presets import build_config

    cfg = build_config(parser().parse_args(["run", "--preset", "smoke", "--compile", "off", "--device", "cpu"]))
    assert cfg.train.compile == "off" and cfg.probe_train.compile == "off"
    assert build_config(parser().parse_args(["run", "--device", "cpu"])).train.compile == "auto"


def samples(n: int = 60, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    return [Sample(f"s{i}", "x", "", rng.integers(1, MODEL.vocab_size, int(rng.integers(8, 40))).astype(np.int32), 0)
            for i in range(n)]


def trained(compile: str) -> tuple[torch.Tensor, object]:
    cfg = TrainConfig(budget=f"tokens:{30 * 4 * MODEL.seq_len}", batch_size=4, precision="fp32", compile=compile)
    model = build_model(MODEL, 0)
    stats = train(model, samples(), cfg, MODEL.seq_len, 0, seed=1)
    return torch.cat([p.detach().flatten() for p in model.parameters()]), stats


@needs_compiler
def test_compiled_training_is_deterministic_and_matches_eager_closely():
    first, stats = trained("on")
    second, _ = trained("on")  # the second model reuses the first one's compiled graph
    eager, eager_stats = trained("off")
    assert stats.compiled and not eager_stats.compiled
    assert torch.equal(first, second)  # bit for bit: the embedding's backward keeps its ordered kernel
    # Fusion changes rounding only: after 30 steps the weights and the loss curve still agree closely.
    torch.testing.assert_close(first, eager, rtol=0, atol=1e-3)
    np.testing.assert_allclose([v for _, v in stats.curve], [v for _, v in eager_stats.curve], rtol=1e-4)
    assert not torch.are_deterministic_algorithms_enabled()  # the global setting is restored
