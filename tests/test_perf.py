"""Throughput of the scoring engine, the trainer and the density sketch (pytest-benchmark).

The timed tests are marked slow (the default run deselects them; run them with `-m slow`). Each asserts a
ratio measured side by side in the same process, with margins below the goals of `bench perf` because a
shared machine makes short measurements noisy; `python -m bench perf` measures the goals themselves.
"""

import numpy as np
import pytest
import torch

from infoprune.config import ModelConfig, TrainConfig
from infoprune.model import build_model
from infoprune.perf import flops_per_token, side_by_side, timed
from infoprune.samples import Sample

DEFAULT_MODEL = ModelConfig(vocab_size=2048, seq_len=128, d_model=64, n_layers=2, n_heads=4, d_ff=256)


def random_samples(n: int, seed: int = 0) -> list[Sample]:
    """Samples of 16..128 tokens, most of them full length, as in the chunked default pool."""
    rng = np.random.default_rng(seed)
    lengths = np.where(rng.random(n) < 0.7, 128, rng.integers(16, 128, n))
    return [Sample(f"s{i}", "x", "", rng.integers(1, 2048, k).astype(np.int32), 4 * k) for i, k in enumerate(lengths)]


def test_flops_per_token_counts_the_lm_head_and_attention():
    n = 2 * (4 * 64 * 64 + 3 * 64 * 256) + 64 * 2048  # 262,144 weights a token goes through
    assert flops_per_token(DEFAULT_MODEL, training=True) == 6 * n + 6 * 2 * 128 * 64
    assert flops_per_token(DEFAULT_MODEL, training=False) == 2 * n + 2 * 2 * 128 * 64


@pytest.mark.slow
def test_scoring_engine_is_several_times_faster_than_a_naive_loop(benchmark):
    from infoprune.scoring import token_nll

    model = build_model(DEFAULT_MODEL, 0).eval()
    samples = random_samples(256)
    tokens = sum(len(s.tokens) for s in samples)

    def engine():
        token_nll(model, samples, 0, 4096, precision="fp32")
        return tokens

    def naive():
        with torch.no_grad():
            for s in samples[:64]:
                ids = torch.tensor([[0, *s.tokens.tolist()]])
                torch.log_softmax(model(ids[:, :-1]).logits[0], -1)[torch.arange(len(s.tokens)), ids[0, 1:]]
        return sum(len(s.tokens) for s in samples[:64])

    rates = side_by_side({"engine": engine, "naive": naive}, rounds=3)
    benchmark.extra_info.update(rates)
    benchmark.pedantic(engine, rounds=3)
    assert rates["engine"] > 2 * rates["naive"]


@pytest.mark.slow
def test_the_trainer_beats_transformers_trainer(benchmark, tmp_path):
    from transformers import Trainer, TrainingArguments

    from infoprune.train import train

    samples, steps = random_samples(400), 20
    cfg = TrainConfig(budget=f"tokens:{steps * 16 * 128}", precision="fp32")  # eager: below COMPILE_MIN_STEPS
    rows = [torch.from_numpy(np.concatenate(([0], s.tokens[:127])).astype(np.int64)) for s in samples[: steps * 16]]
    rows = [torch.nn.functional.pad(r, (0, 128 - len(r))) for r in rows]

    def ours():
        return train(build_model(DEFAULT_MODEL, 1), samples, cfg, 128, 0, seed=0).tokens

    def hf():
        args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=16, max_steps=steps,
                                 use_cpu=True, report_to="none", save_strategy="no", logging_strategy="no",
                                 disable_tqdm=True, dataloader_num_workers=0)
        Trainer(model=build_model(DEFAULT_MODEL, 1), args=args,
                train_dataset=[{"input_ids": r, "labels": r} for r in rows]).train()
        return steps * 16 * 128

    rates = side_by_side({"ours": ours, "hf_trainer": hf}, rounds=2)
    benchmark.extra_info.update(rates)
    benchmark.pedantic(ours, rounds=2)
    assert rates["ours"] > 1.1 * rates["hf_trainer"]


@pytest.mark.slow
def test_density_sketch_grows_linearly(benchmark):
    from criteria.density import sketch_density

    rng = np.random.default_rng(0)
    x = rng.standard_normal((100_000, 384)).astype(np.float32)
    sketch_density(x[:1000], 16, 64, 0)  # warm-up
    _, small = timed(lambda: sketch_density(x[:10_000], 16, 64, 0))
    _, large = timed(lambda: sketch_density(x, 16, 64, 0))
    benchmark.extra_info.update({"seconds_10k": small, "seconds_100k": large})
    benchmark.pedantic(lambda: sketch_density(x[:10_000], 16, 64, 0), rounds=2)
    assert large < 30 * small  # linear: ~10x for 10x the samples; quadratic would be ~100x
