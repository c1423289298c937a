"""Each criterion's direction on a toy pool where the answer is known."""

import random as stdlib_random

import numpy as np
import pytest

from infoprune.config import CriterionSpec, ModelConfig, TrainConfig
from infoprune.criterion import ScoringContext, build, get, names, parse_specs
from infoprune.documents import Document
from infoprune.errors import CriterionError
from infoprune.model import build_model
from infoprune.samples import chunk
from infoprune.scoring import token_nll
from infoprune.select import select
from infoprune.tokenizer import eos_id, train_tokenizer
from infoprune.train import train

REPEATED = "the cat sat on the mat. " * 6


def gibberish(rng: stdlib_random.Random, n: int) -> str:
    return "".join(rng.choice("qxzjkvwy ") for _ in range(n))


@pytest.fixture(scope="module")
def toy():
    """A probe trained on one repeated sentence, and a pool of that sentence and of gibberish."""
    rng = stdlib_random.Random(0)
    probe_docs = [Document(f"probe/x/{i:04d}", "probe", REPEATED) for i in range(40)]
    tok = train_tokenizer(probe_docs + [Document("g/g/0", "g", gibberish(rng, 3000))], 300)
    pool_docs = [Document(f"pool/plain/{i:04d}", "plain", REPEATED[: 60 + i]) for i in range(6)]
    pool_docs += [Document(f"pool/noise/{i:04d}", "noise", gibberish(rng, 60 + i)) for i in range(6)]
    cfg = ModelConfig(vocab_size=300, seq_len=64, d_model=32, n_layers=1, n_heads=2, d_ff=64)
    model = build_model(cfg, seed=0)
    train(model, chunk(probe_docs, tok, 64), TrainConfig(budget="tokens:30000", batch_size=8, lr=1e-2,
                                                         precision="fp32"), 64, eos_id(tok), seed=0)
    pool = chunk(pool_docs, tok, 64)
    ctx = ScoringContext(seed=7, nll=lambda s: token_nll(model, s, eos_id(tok), precision="fp32"))
    return pool, ctx


def scores_of(name, pool, ctx, **params):
    return build(CriterionSpec(name, tuple(sorted(params.items())))).score(pool, ctx)


def test_information_keeps_the_surprising_samples(toy):
    pool, ctx = toy
    kept = select([s.id for s in pool], scores_of("information", pool, ctx), 0.5)
    assert all(k.startswith("pool/noise/") for k in kept)


def test_information_is_description_length_in_bits(toy):
    pool, ctx = toy
    nats = ctx.token_nll(pool)
    assert np.allclose(scores_of("information", pool, ctx), [x.sum() / np.log(2) for x in nats])


def test_length_keeps_the_longest(toy):
    pool, _ = toy
    by_tokens = scores_of("length", pool, None)
    assert np.array_equal(by_tokens, [len(s.tokens) for s in pool])
    kept = select([s.id for s in pool], scores_of("length", pool, None, unit="bytes"), 0.75)
    longest = sorted(pool, key=lambda s: (-s.n_bytes, s.id))[:3]
    assert kept == sorted(s.id for s in longest)


def test_random_is_reproducible_seed_dependent_and_order_free(toy):
    pool, ctx = toy
    a = scores_of("random", pool, ctx)
    assert np.array_equal(a, scores_of("random", pool, ctx))
    assert not np.array_equal(a, scores_of("random", pool, ctx.with_seed(8)))
    assert np.array_equal(a[::-1], scores_of("random", pool[::-1], ctx))
    assert ((0 <= a) & (a < 1)).all()


def test_random_is_uniform_over_many_seeds(toy):
    pool, ctx = toy
    kept_noise = sum(
        k.startswith("pool/noise/")
        for seed in range(200)
        for k in select([s.id for s in pool], scores_of("random", pool, ctx.with_seed(seed)), 0.5)
    )
    assert abs(kept_noise / (200 * 6) - 0.5) < 0.05


def test_registry_lists_and_rejects_with_a_suggestion():
    assert {"random", "length", "information"} <= set(names())
    with pytest.raises(CriterionError, match="Did you mean 'information'"):
        get("informaton")


def test_spec_parsing_attaches_parameters_and_validates_them():
    specs = parse_specs("length:unit=bytes,random")
    assert [s.label for s in specs] == ["length:unit=bytes", "random"]
    with pytest.raises(CriterionError, match="unit must be one of tokens, bytes"):
        parse_specs("length:unit=words")
    with pytest.raises(CriterionError, match="unknown parameter 'foo'; valid parameters: unit"):
        parse_specs("length:foo=1")
    with pytest.raises(CriterionError, match="listed twice"):
        parse_specs("random,random")


def test_all_expands_to_every_registered_criterion():
    assert {s.name for s in parse_specs("all")} == set(names())
