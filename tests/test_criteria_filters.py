"""Direction tests for the filters practitioners run: datatrove's rule sets, the fastText classifier, DSIR's draw."""

import json
import random
import sys

import numpy as np
import pytest

from infoprune.config import CriterionSpec
from infoprune.criterion import ScoringContext, build, get, parse_specs
from infoprune.errors import CriterionError
from infoprune.samples import Sample
from infoprune.select import select

RULE_SETS = ("gopher-quality", "gopher-repetition", "c4-quality", "fineweb-quality")

SUBJECTS = ("the old sailor", "my sister", "the young doctor", "a tired farmer", "the captain", "our neighbour",
            "his uncle", "the schoolmaster", "a quiet girl", "the baker")
VERBS = ("walked to", "looked at", "wrote about", "thought of", "spoke with", "waited for", "painted", "repaired",
         "remembered", "counted")
OBJECTS = ("the harbour", "some letters", "a house on the hill", "three boats", "the garden", "a long road",
           "her brother", "an empty barn", "the church bells", "two horses")
WHEN = ("before dawn", "in the rain", "after supper", "all winter", "on Sunday", "at noon", "since spring",
        "every morning", "that evening", "with great care")


def prose(rng: random.Random, sentences: int = 8) -> str:
    """Plain English prose: whole sentences, two to a line, every line ending in a full stop, no phrase repeated."""
    parts = [rng.sample(words, sentences) for words in (SUBJECTS, VERBS, OBJECTS, WHEN)]
    said = [f"{s} {v} {o} {w}." for s, v, o, w in zip(*parts)]
    said = [x[0].upper() + x[1:] for x in said]
    return "\n".join(" ".join(said[i : i + 2]) for i in range(0, sentences, 2))


def sample(id: str, source: str, text: str) -> Sample:
    return Sample(id, source, text, np.zeros(1, dtype=np.int32), len(text.encode("utf-8")))


def scores_of(name, pool, ctx=None, **params):
    return build(CriterionSpec(name, tuple(sorted(params.items())))).score(pool, ctx)


def kept(pool, scores, ratio, mode="top", seed=0):
    return {i.split("/")[1] for i in select([s.id for s in pool], scores, ratio, mode, seed)}


def toy_pool(junk: list[str]) -> list[Sample]:
    rng = random.Random(0)
    pool = [sample(f"p/prose/{i}", "prose", prose(rng)) for i in range(4)]
    return pool + [sample(f"p/junk/{i}", "junk", text) for i, text in enumerate(junk)]


def test_gopher_repetition_ranks_repeated_lines_below_prose():
    line = "Click here to subscribe to our newsletter today"
    pool = toy_pool([f"{line}\n" * (6 + i) for i in range(4)])
    a = scores_of("gopher-repetition", pool)
    assert kept(pool, a, 0.5) == {"prose"}
    assert (a[:4] == 13).all() and (a[4:] < 13).all()


def test_gopher_quality_ranks_symbol_soup_and_stopword_free_text_below_prose():
    rng = random.Random(1)
    soup = ["# " + " # ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(60)) for _ in range(2)]
    lists = [" ".join(f"item{rng.randint(0, 999)} value{rng.randint(0, 999)}" for _ in range(40)) for _ in range(2)]
    pool = toy_pool(soup + lists)
    a = scores_of("gopher-quality", pool)
    assert kept(pool, a, 0.5) == {"prose"}
    assert (a[:4] == 9).all() and (a[4:] < 9).all()


def test_c4_quality_ranks_unpunctuated_lines_and_lorem_ipsum_below_prose():
    rng = random.Random(2)
    bare = [prose(rng).replace(".", "") for _ in range(2)]  # no line ends in terminal punctuation
    lorem = [prose(rng) + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit." for _ in range(2)]
    pool = toy_pool(bare + lorem)
    a = scores_of("c4-quality", pool)
    assert kept(pool, a, 0.5) == {"prose"}
    assert (a[:4] >= 3).all() and (a[4:] < 3).all()
    assert np.allclose(a[:4], 3.5)  # every page rule passed, every line kept
    assert np.allclose(a[4:6], 2.0)  # no line kept: too few sentences, line share 0


def test_fineweb_quality_ranks_lists_of_short_lines_below_prose():
    rng = random.Random(3)
    menus = ["\n".join(rng.choice(["Home", "About us", "Contact", "Shop", "Blog", "Login"]) for _ in range(30))
             for _ in range(4)]
    pool = toy_pool(menus)
    a = scores_of("fineweb-quality", pool)
    assert kept(pool, a, 0.5) == {"prose"}
    assert (a[:4] == 4).all() and (a[4:] < 4).all()


@pytest.mark.parametrize("name", RULE_SETS)
def test_a_rule_set_scores_its_pass_mark_exactly_when_datatrove_keeps_the_sample(name):
    crit = get(name)()
    rules = crit.ruleset()
    assert crit.pass_mark == len(rules.singles) and crit.per_sample
    rng = random.Random(4)
    texts = [prose(rng, n) for n in (2, 6, 10, 10)] + ["", "   \n ", "# # #", "lorem ipsum dolor.\n" * 9,
                                                   "{ a: 1 }\n" + prose(rng), "word " * 120, "- a\n- b\n- c"]
    pool = [sample(f"p/t/{i}", "t", t) for i, t in enumerate(texts)]
    a = scores_of(name, pool)
    from datatrove.data import Document

    plain = [type(rules.whole)().filter(Document(text=t, id="")) for t in texts]
    plain = [bool(r[0] if isinstance(r, tuple) else r) for r in plain]
    assert list(a >= crit.pass_mark) == plain
    assert np.isfinite(a).all() and (a >= 0).all()


def test_every_failed_rule_costs_a_point():
    # 20 words and no stop word: two of Gopher's quality rules fail (at least 50 words, at least 2 stop words).
    text = " ".join(["narwhal", "quokka", "pangolin", "axolotl"] * 5)
    pool = [sample("p/t/0", "t", text)]
    assert scores_of("gopher-quality", pool)[0] == 7


def test_the_new_criteria_run_with_all_and_show_their_papers():
    labels = {s.label for s in parse_specs("all")}
    assert set(RULE_SETS) | {"fasttext-classifier", "dsir"} <= labels
    for name in RULE_SETS:
        assert "datatrove" in get(name).paper and get(name).pass_mark is not None
    assert "2406.11794" in get("fasttext-classifier").paper


# fasttext-classifier: two topics of pseudo-prose; the positive set is one of them.
SHIPS = "ship sail sea harbour wind sailor deck mast wave tide anchor crew".split()
LAW = "court judge law jury verdict case trial witness lawyer appeal sentence clerk".split()


def topic_text(rng: random.Random, words: list[str], n: int = 40) -> str:
    return " ".join(rng.choice(words + ["the", "a", "and", "of"]) for _ in range(n))


def classifier_pool():
    rng = random.Random(5)
    pool = [sample(f"p/ships/{i:02d}", "ships", topic_text(rng, SHIPS)) for i in range(30)]
    pool += [sample(f"p/law/{i:02d}", "law", topic_text(rng, LAW)) for i in range(30)]
    pool += [sample(f"p/misc/{i:02d}", "misc", topic_text(rng, SHIPS + LAW)) for i in range(10)]
    dev = [sample(f"h/ships/{i:02d}", "ships", topic_text(rng, SHIPS)) for i in range(20)]
    return pool, ScoringContext(seed=0, target=dev)


def test_fasttext_classifier_ranks_samples_like_the_positive_set_higher():
    pool, ctx = classifier_pool()
    for target in ("dev", "ships"):
        a = scores_of("fasttext-classifier", pool, ctx, target=target)
        assert ((a >= 0) & (a <= 1)).all()
        # On 60 lines DCLM's 5 epochs move P(positive) off 0.5 by little, but in the right direction.
        assert a[:30].min() > a[30:60].max()
        assert kept(pool, a, 40 / 70) == {"ships"}
    law = scores_of("fasttext-classifier", pool, ctx, target="law+misc")
    assert law[30:60].min() > law[:30].max()


def test_fasttext_classifier_is_deterministic_and_seeded():
    pool, ctx = classifier_pool()
    crit = build(CriterionSpec("fasttext-classifier", (("target", "ships"),)))
    assert crit.seeded and crit.uses_target
    a, b = crit.score(pool, ctx), crit.score(pool, ctx)
    assert np.array_equal(a, b)
    perm = np.random.default_rng(0).permutation(len(pool))
    assert np.array_equal(crit.score([pool[i] for i in perm], ctx), a[perm])  # the pool's order plays no part


def test_fasttext_classifier_reads_a_jsonl_positive_set(tmp_path):
    pool, ctx = classifier_pool()
    rng = random.Random(6)
    path = tmp_path / "positives.jsonl"
    path.write_text("".join(json.dumps({"text": topic_text(rng, LAW)}) + "\n" for _ in range(20)))
    a = scores_of("fasttext-classifier", pool, ctx, target=str(path))
    assert a[30:60].min() > a[:30].max()
    # The file's contents key the cached scores: an edited file is read again, never served stale.
    crit = build(parse_specs(f"fasttext-classifier:target={path}")[0])
    before = crit.inputs()
    path.write_text(path.read_text() + json.dumps({"text": "one more"}) + "\n")
    assert crit.inputs() != before


def test_fasttext_classifier_target_errors_are_one_line(tmp_path):
    pool, ctx = classifier_pool()
    with pytest.raises(CriterionError, match="unknown target source poetry; valid: .*: law, misc, ships"):
        scores_of("fasttext-classifier", pool, ctx, target="ships+poetry")
    with pytest.raises(CriterionError, match="dev set is empty"):
        scores_of("fasttext-classifier", pool, ScoringContext(seed=0), target="dev")
    # A default-corpus source missing from this pool is no typo: fine beside one that is there, an error alone.
    assert len(scores_of("fasttext-classifier", pool, ctx, target="ships+austen")) == len(pool)
    with pytest.raises(CriterionError, match="no pool sample comes from austen"):
        scores_of("fasttext-classifier", pool, ctx, target="austen")
    with pytest.raises(CriterionError, match="does not exist"):
        scores_of("fasttext-classifier", pool, ctx, target=str(tmp_path / "none.jsonl"))
    # auto: the default corpus's reference sources when the pool has them, else the dev set.
    assert np.array_equal(scores_of("fasttext-classifier", pool, ctx), scores_of("fasttext-classifier", pool, ctx,
                                                                                  target="dev"))
    with pytest.raises(CriterionError, match="dev set is empty"):
        scores_of("fasttext-classifier", pool, ScoringContext(seed=0))
    reference = pool + [sample("p/python-doc/0", "python-doc", topic_text(random.Random(8), LAW))]
    assert np.array_equal(scores_of("fasttext-classifier", reference, ctx),
                          scores_of("fasttext-classifier", reference, ctx, target="python-doc+debian-handbook"))
    # '+' joins sources inside one --criteria list, whose ',' separates criteria and parameters.
    specs = parse_specs("fasttext-classifier:target=ships+law,dsir")
    assert [s.label for s in specs] == ["fasttext-classifier:target=ships+law", "dsir"]


@pytest.mark.parametrize("name,module", [("fasttext-classifier", "fasttext"), ("gopher-quality", "datatrove.pipeline"),
                                         ("c4-quality", "spacy"), ("dsir", "nltk.tokenize")])
def test_a_missing_dependency_is_one_line_naming_the_install(monkeypatch, name, module):
    pool, ctx = classifier_pool()
    monkeypatch.setitem(sys.modules, module, None)  # what an import of a package that is not installed does
    with pytest.raises(CriterionError, match="pip install") as err:
        scores_of(name, pool, ctx)
    assert "\n" not in str(err.value)


def test_dsir_keep_gumbel_draws_by_importance_weight():
    rng = random.Random(7)
    # Short texts of the dev set's own words: their importance weights differ by a few nats, so the draw favours
    # the heavier ones without being the top-k (a word the target lacks costs ~18 nats: 1e-8 smoothing).
    pool = [sample(f"p/mix/{i:02d}", "mix", topic_text(rng, SHIPS, 8)) for i in range(60)]
    ctx = classifier_pool()[1]
    crit = build(CriterionSpec("dsir", (("keep", "gumbel"),)))
    assert crit.keep == "gumbel"
    a = crit.score(pool, ctx)
    ids = [s.id for s in pool]
    draws = [select(ids, a, 0.5, crit.keep, seed) for seed in range(4)]
    assert all(len(d) == 30 for d in draws) and len({tuple(d) for d in draws}) == 4  # a draw: the seed matters
    weight = dict(zip(ids, a))
    for d in draws:
        assert np.mean([weight[i] for i in d]) > a.mean()
    assert select(ids, a, 0.5, crit.keep, 0) == draws[0]  # and a seeded one
