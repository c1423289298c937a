"""criteria/dsir.py against the DSIR authors' package (data-selection 1.0.3, the `dev` extra), on a pool built here.

The package reads JSON lines from disk and writes its weights to a cache folder, both in tmp_path; it tokenizes
with nltk's WordPunctTokenizer, a regex, so nothing is downloaded. The measured Spearman is printed (pytest -s)
and recorded as the test's `dsir_spearman` property (pytest --junitxml).
"""

import json
import random

import numpy as np
from scipy.stats import spearmanr

from infoprune.config import CriterionSpec
from infoprune.criterion import ScoringContext, build
from infoprune.samples import Sample

TOPICS = {
    "sea": "ship sail harbour tide anchor sailor's deck mast wave crew storm lighthouse fisherman's nets coast",
    "law": "court judge jury verdict witness lawyer appeal sentence clerk trial statute plaintiff defendant",
    "kitchen": "bread flour oven butter sugar recipe dough knife pan salt onion garlic simmer stir bake",
    "code": "function variable compile runtime error pointer array loop module import return class object",
    "garden": "rose soil seed spade weed hedge orchard apple blossom compost shovel ivy lawn tulip",
}
GLUE = "the a an and of to in on with was is were it he she they that this but or at by from for as".split()
MARKS = [".", ",", ";", "!", "?", " --", ":", "'s", " (1)", " 1913", " e.g.", " don't", " x-ray"]


def text(rng: random.Random, topics: list[str], words: int) -> str:
    vocab = [w for t in topics for w in TOPICS[t].split()]
    out = []
    for i in range(words):
        w = rng.choice(vocab) if rng.random() < 0.55 else rng.choice(GLUE)
        if i == 0 or out[-1].endswith((".", "!", "?")):
            w = w.capitalize()
        out.append(w + (rng.choice(MARKS) if rng.random() < 0.12 else ""))
    return " ".join(out) + "."


def pool_and_target():
    rng = random.Random(18)
    names = list(TOPICS)
    pool = []
    for i in range(300):
        topics = rng.sample(names, rng.choice([1, 1, 2, 3]))
        pool.append(Sample(f"pool/{'-'.join(topics)}/{i:03d}", topics[0], text(rng, topics, rng.randint(15, 140)),
                           np.zeros(1, dtype=np.int32), 0))
    target = [Sample(f"dev/{i:03d}", "dev", text(rng, rng.sample(["sea", "garden", "law"], 2), rng.randint(30, 120)),
                     np.zeros(1, dtype=np.int32), 0) for i in range(60)]
    return pool, target


def package_weights(pool, target, tmp_path) -> np.ndarray:
    from data_selection import HashedNgramDSIR

    raw, tgt = tmp_path / "raw.jsonl", tmp_path / "target.jsonl"
    raw.write_text("".join(json.dumps({"text": s.text}) + "\n" for s in pool))
    tgt.write_text("".join(json.dumps({"text": s.text}) + "\n" for s in target))
    dsir = HashedNgramDSIR([str(raw)], [str(tgt)], cache_dir=str(tmp_path / "cache"), num_proc=1,
                           num_buckets=10000, ngrams=2)  # the package's defaults, spelled out
    dsir.fit_importance_estimator()
    dsir.compute_importance_weights()
    return np.load(tmp_path / "cache" / "log_importance_weights" / "0.npy")


def test_dsir_scores_agree_with_the_authors_package(tmp_path, record_property):
    pool, target = pool_and_target()
    ours = build(CriterionSpec("dsir")).score(pool, ScoringContext(seed=0, target=target))
    theirs = package_weights(pool, target, tmp_path)
    rho = spearmanr(ours, theirs).statistic
    record_property("dsir_spearman", float(rho))
    print(f"dsir vs data-selection 1.0.3 HashedNgramDSIR on {len(pool)} samples: Spearman {rho:.6f}, "
          f"max |difference| {np.abs(ours - theirs).max():.2e}")
    assert rho >= 0.99
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-6)  # the same features: equal to rounding
