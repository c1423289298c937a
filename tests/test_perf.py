"""Throughput of the scoring engine, the trainer and the density sketch (pytest-benchmark).

The timed tests are marked slow (the default run deselects them; run them with `-m slow`). They run the same
side-by-side measurements as `python -m bench perf`, on a synthetic pool shaped like the default one, and
assert ratios with margins below the goals, because a shared machine makes short measurements noisy;
`python -m bench perf` measures the goals themselves.
"""

import numpy as np
import pytest

from infoprune.config import ModelConfig
from infoprune.perf import flops_per_token, timed
from infoprune.samples import Sample

DEFAULT_MODEL = ModelConfig(vocab_size=2048, seq_len=128, d_model=64, n_layers=2, n_heads=4, d_ff=256)


def synthetic_pool(n: int = 4000, seed: int = 0) -> tuple[list[Sample], int]:
    """Samples shaped like the chunked default pool: 40% a full 128-token context, the rest log-uniform
    in 8..127 tokens (median 79 overall, as the real pool's 73), and the end-of-text id 0."""
    rng = np.random.default_rng(seed)
    short = np.exp(rng.uniform(np.log(8), np.log(128), n)).astype(int)
    lengths = np.where(rng.random(n) < 0.4, 128, short)
    samples = [Sample(f"s{i:05d}", "x", "", rng.integers(1, 2048, k).astype(np.int32), 4 * k)
               for i, k in enumerate(lengths)]
    return samples, 0


def test_flops_per_token_counts_the_lm_head_and_attention():
    n = 2 * (4 * 64 * 64 + 3 * 64 * 256) + 64 * 2048  # 262,144 weights a token goes through
    assert flops_per_token(DEFAULT_MODEL, training=True) == 6 * n + 6 * 2 * 128 * 64
    assert flops_per_token(DEFAULT_MODEL, training=False) == 2 * n + 2 * 2 * 128 * 64


@pytest.mark.slow
def test_scoring_beats_a_naive_loop_and_keeps_up_with_the_plain_forward(benchmark):
    from bench.perf import scoring
    from bench.presets import PRESETS
    from infoprune.model import build_model
    from infoprune.scoring import token_nll

    pool = synthetic_pool()
    result = scoring(PRESETS["default"], pool, rounds=3, log=lambda m: None)
    benchmark.extra_info.update(result)
    model = build_model(DEFAULT_MODEL, 0)
    benchmark.pedantic(lambda: token_nll(model, pool[0][:1024], 0, 4096), rounds=3)
    assert result["scoring_padding_waste"] < 0.10
    assert result["scoring_speedup_vs_naive"] > 1.5  # goal 3: 3.45-3.93 when the machine is quiet
    assert result["scoring_fraction_of_forward_limit"] > 0.75  # goal 0.9: 1.02-1.13 when quiet


@pytest.mark.slow
def test_the_trainer_beats_transformers_trainer(benchmark):
    from bench.perf import training
    from bench.presets import PRESETS

    result = training(PRESETS["default"], synthetic_pool(), rounds=3, peaks={"fp32": 170.0, "bf16": 400.0},
                      log=lambda m: None)
    benchmark.extra_info.update(result)
    benchmark.pedantic(lambda: None, rounds=1)  # the timing is the side-by-side one, in extra_info
    # Goal 1.5: compiled, ours ran 1.6-1.8x the Trainer's speed when the machine was quiet, but short turns swing
    # by 15% or more. This guards against losing the compiled path or the fused head (eager: 1.1-1.4x).
    assert result["train_compiled"]
    assert result["train_speedup_vs_hf_trainer"] > 1.2
    assert result["train_mfu"] > 0.2  # goal 0.3: 0.34-0.43 when quiet


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
