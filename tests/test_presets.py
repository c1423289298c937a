"""The second scales: `large` (CPU) and `gpu-proxy` have the sizes their comments state, the GPU proxy's whole
path runs on CPU at a tiny size, and `bench export` carries exactly the documents a preset reads."""

from __future__ import annotations

import json
from dataclasses import replace

from conftest import tiny_config

from bench.cli import main
from bench.presets import PRESETS
from infoprune.config import parse_budget
from infoprune.model import build_model, count_params
from infoprune.runbook import run
from infoprune.samples import split_documents
from infoprune.sources import load_corpus


def sizes(name: str) -> tuple[int, int]:
    model = build_model(PRESETS[name].model, 0)
    return count_params(model), count_params(model, non_embedding=False)


def test_the_second_scales_have_the_stated_sizes():
    default, large, proxy = sizes("default"), sizes("large"), sizes("gpu-proxy")
    assert 10_000_000 <= proxy[0] <= 30_000_000
    assert 7.5 <= large[0] / default[0] <= 8.5
    # training FLOPs per cell: 6 x (weights a token passes through, the tied head included) x tokens
    def per_cell(name, n):
        return 6 * n * parse_budget(PRESETS[name].train.budget)[1]
    assert 8 <= per_cell("large", large[1]) / per_cell("default", default[1]) <= 12


def test_the_gpu_proxy_runs_on_cpu_at_a_tiny_size(corpus_file, tmp_path):
    proxy = PRESETS["gpu-proxy"]
    tiny = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", criteria="random,information")
    cfg = replace(proxy, criteria=tiny.criteria, ratios=(0.5,), seeds=(0,), data=tiny.data, tasks=(),
                  model=replace(proxy.model, vocab_size=300, seq_len=32, d_model=32, n_layers=1, n_heads=2, d_ff=64),
                  train=replace(proxy.train, budget="tokens:2048", batch_size=4, precision="fp32"),
                  probe_train=replace(proxy.probe_train, budget="tokens:2048", batch_size=4, precision="fp32"),
                  eval_batch_size=4, out=tiny.out, data_dir=tiny.data_dir, keep_models=False)
    assert run(cfg, log=lambda _: None) == 0
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["config"]["preset"] == "gpu-proxy"


def test_export_writes_exactly_the_documents_the_preset_reads(corpus_file, tmp_path, capsys):
    out = tmp_path / "carry.jsonl"
    assert main(["export", "--preset", "smoke", "--corpus", f"jsonl:{corpus_file}", "--pool-bytes", "8000",
                 "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert "documents" in capsys.readouterr().out
    data = replace(PRESETS["smoke"].data, pool_bytes=8000)
    whole = split_documents(load_corpus(f"jsonl:{corpus_file}", tmp_path / "data").documents, data)
    carried = split_documents(load_corpus(f"jsonl:{out}", tmp_path / "data").documents, data)
    for part in ("probe", "pool", "test", "dev", "ood"):
        assert [d.id for d in getattr(carried, part)] == [d.id for d in getattr(whole, part)], part
        assert [d.text for d in getattr(carried, part)] == [d.text for d in getattr(whole, part)], part
    assert len(load_corpus(f"jsonl:{out}", tmp_path / "data").documents) < len(
        load_corpus(f"jsonl:{corpus_file}", tmp_path / "data").documents)  # only what the preset reads
