"""The split is a pure function of document ids: order-free, stable across budgets, OOD held out whole."""

import random
from dataclasses import replace

import pytest
from conftest import make_documents

from infoprune.config import DataConfig
from infoprune.errors import CriterionError
from infoprune.samples import split_documents

CFG = DataConfig(probe_bytes=5_000, pool_bytes=20_000, test_bytes=3_000, dev_bytes=3_000, ood="letters/work3",
                 ood_bytes=10**6)


def ids(docs):
    return [d.id for d in docs]


def test_split_is_deterministic_and_independent_of_document_order():
    docs = make_documents(300)
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    a, b = split_documents(docs, CFG), split_documents(shuffled, CFG)
    for part in ("probe", "pool", "test", "dev", "ood"):
        assert ids(getattr(a, part)) == ids(getattr(b, part))


def test_parts_are_disjoint_and_sized_by_bytes():
    split = split_documents(make_documents(300), CFG)
    parts = [set(ids(getattr(split, p))) for p in ("probe", "pool", "test", "dev", "ood")]
    assert sum(map(len, parts)) == len(set().union(*parts))
    pool_bytes = sum(len(d.text.encode()) for d in split.pool)
    assert CFG.pool_bytes <= pool_bytes < CFG.pool_bytes + max(len(d.text.encode()) for d in split.pool)


def test_ood_prefix_holds_out_one_whole_work():
    split = split_documents(make_documents(300), CFG)
    assert split.ood and all(d.id.startswith("letters/work3/") for d in split.ood)
    trained = ids(split.probe) + ids(split.pool) + ids(split.test) + ids(split.dev)
    assert not any(i.startswith("letters/work3/") for i in trained)


def test_a_larger_pool_never_takes_held_out_documents():
    docs = make_documents(300)
    small = split_documents(docs, CFG)
    big = split_documents(docs, replace(CFG, pool_bytes=10**9, probe_bytes=10**9))
    assert set(ids(small.test)) <= set(ids(split_documents(docs, replace(CFG, test_bytes=10**9)).test))
    assert not set(ids(big.pool)) & set(ids(small.test))
    assert not set(ids(big.pool)) & set(ids(small.dev))
    assert set(ids(small.pool)) <= set(ids(big.pool))


def test_split_seed_changes_the_split():
    docs = make_documents(300)
    assert ids(split_documents(docs, CFG).pool) != ids(split_documents(docs, replace(CFG, split_seed=1)).pool)


def test_criteria_read_a_dev_set_apart_from_everything_evaluated_and_trained(tmp_path, monkeypatch):
    """On a default corpus (fortunes and python-doc, from fixture trees): the dev set that criteria read, the
    evaluation sets, the documents downstream items are built from, and the training text are disjoint, except
    that the in-domain test set and the downstream items share the test band (both are only ever evaluated)."""
    from conftest import WORDS, tiny_config
    from test_concurrency import SOURCES, fixture_trees, install_fakes

    from infoprune.pipeline import Pipeline
    from infoprune.tasks import LOCAL, material

    fixtures = fixture_trees(tmp_path / "fixtures")
    rng = random.Random(5)  # enough short fortunes for the completion task to find distractors of like length
    more = ["".join(" ".join(rng.choice(WORDS) for _ in range(12)) + ".\n%\n" for _ in range(2000))]
    (fixtures / "fortunes/usr/share/games/fortunes/sayings").write_text("".join(more))
    install_fakes(str(fixtures), monkeypatch.setattr)
    cfg = tiny_config(tmp_path, tmp_path / "out", tmp_path / "data", criteria="dsir")
    everything = dict(test_bytes=10**9, dev_bytes=10**9, pool_bytes=10**9, probe_bytes=10**9)
    cfg = replace(cfg, data=replace(cfg.data, corpus="default:" + ",".join(SOURCES), ood="python-doc", **everything))
    pipe = Pipeline(cfg, log=lambda m: None)

    def docs(part: str) -> set[str]:
        return {s.id.rsplit("#", 1)[0] for s in pipe.samples[part]}

    dev, test, ood, training = docs("dev"), docs("in_domain"), docs("ood"), docs("probe") | docs("pool")
    unseen, counts = material(cfg.data_dir, {"fortunes"})
    behind_items = {d.id for d in unseen["fortunes"]}
    items = {it["id"] for it in LOCAL.get("fortune_complete").build(unseen["fortunes"], counts, 10**6)}
    assert dev and test and ood and training and items and items <= behind_items
    pairs = [(dev, test), (dev, ood), (dev, behind_items), (dev, training), (test, ood), (test, training),
             (ood, behind_items), (ood, training), (behind_items, training)]
    assert all(not a & b for a, b in pairs)
    # A criterion is offered the dev samples as its target, and nothing of the test set: reaching for it fails.
    assert [s.id for s in pipe.context.target] == [s.id for s in pipe.samples["dev"]]
    with pytest.raises(CriterionError, match="ctx.heldout is not offered"):
        pipe.context.heldout  # noqa: B018
