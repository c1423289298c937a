"""Each criterion's direction on a toy pool where the answer is known."""

import random as stdlib_random

import numpy as np
import pytest

from conftest import REPEATED, gibberish

from infoprune.config import CriterionSpec
from infoprune.criterion import build, get, names, parse_specs
from infoprune.documents import Document
from infoprune.errors import CriterionError
from infoprune.select import select

@pytest.fixture(scope="module")
def toy(toy_probe):
    """A pool of the probe's sentence and of gibberish, the probe's context."""
    to_samples, ctx = toy_probe
    rng = stdlib_random.Random(1)
    docs = [Document(f"pool/plain/{i:04d}", "plain", REPEATED[: 60 + i]) for i in range(6)]
    docs += [Document(f"pool/noise/{i:04d}", "noise", gibberish(rng, 60 + i)) for i in range(6)]
    return to_samples(docs), ctx


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
    with pytest.raises(CriterionError, match="unknown parameter 'foo'; valid parameters: keep, unit"):
        parse_specs("length:foo=1")
    with pytest.raises(CriterionError, match="listed twice"):
        parse_specs("random,random")


def test_all_expands_to_every_registered_criterion():
    assert {s.name for s in parse_specs("all")} == set(names())
