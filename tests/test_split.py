"""The split is a pure function of document ids: order-free, stable across budgets, OOD held out whole."""

import random
from dataclasses import replace

from conftest import make_documents

from infoprune.config import DataConfig
from infoprune.samples import split_documents

CFG = DataConfig(probe_bytes=5_000, pool_bytes=20_000, test_bytes=3_000, dev_bytes=3_000, ood="letters/work3", ood_bytes=10**6)


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
