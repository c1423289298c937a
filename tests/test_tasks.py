"""Local downstream tasks: deterministic items, fair distractors, a cache that rebuilds, clear errors on bad names."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from infoprune import tasks
from infoprune.documents import Document
from infoprune.errors import UserError
from infoprune.tasks import local
from infoprune.tasks.local import WORD, band, word_counts

SYLLABLES = ["ka", "lo", "mi", "ren", "tus", "ba", "vel", "or", "sin", "de", "pa", "qui"]


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(word(rng) for _ in range(n))


def source_documents(n: int = 1600) -> dict[str, list[Document]]:
    """Documents shaped like each source's parser output (see infoprune/sources)."""
    rng = random.Random(0)
    wordnet = [Document(f"wordnet/noun/{i:05d}", "wordnet",
                        f"{word(rng)}, {word(rng)} (noun): {sentence(rng, 8)}; \"an example\"") for i in range(n)]
    gcide = [Document(f"gcide/a/{i:05d}", "gcide",
                      f"{word(rng).capitalize()}: n.\n1. {sentence(rng, 9)}.\n2. {sentence(rng, 5)}.\n\nSyn: x")
             for i in range(n)]
    fortunes = [Document(f"fortunes/art/{i:05d}", "fortunes",
                         f"{sentence(rng, 6)}\n{sentence(rng, rng.randint(4, 12))}.\n\t\t-- {word(rng)}")
                for i in range(n)]
    bible = [Document(f"bible/gen/{i:04d}", "bible",
                      " ".join(sentence(rng, rng.randint(10, 20)) + "." for _ in range(40))) for i in range(60)]
    austen = [Document(f"austen/persuasion/{i:04d}", "austen",
                       "\n\n".join(" ".join(sentence(rng, rng.randint(10, 16)) + "." for _ in range(6))
                                   for _ in range(30))) for i in range(12)]
    return {"wordnet": wordnet, "gcide": gcide, "fortunes": fortunes, "bible": bible, "austen": austen}


@pytest.fixture(scope="module")
def material():
    docs = source_documents()
    return docs, word_counts(d.text for ds in docs.values() for d in ds)


@pytest.mark.parametrize("name", ["wordnet_define", "gcide_define", "persuasion_cloze", "fortune_complete",
                                  "bible_complete"])
def test_items_are_deterministic_fair_and_well_formed(material, name):
    docs, counts = material
    spec = tasks.check_local(name)
    items = spec.build(docs[spec.source], counts, 300)
    assert len(items) == 300
    assert items == spec.build(docs[spec.source], counts, 300)  # same material, same items
    golds = Counter(it["gold"] for it in items)
    assert set(golds) == {0, 1, 2, 3} and max(golds.values()) - min(golds.values()) <= 1  # no position gives it away
    assert len({it["id"] for it in items}) == len(items)
    for it in items:
        assert len(it["choices"]) == tasks.N_CHOICES
        assert len({c.lower() for c in it["choices"]}) == tasks.N_CHOICES
        gold = it["choices"][it["gold"]]
        others = [c for i, c in enumerate(it["choices"]) if i != it["gold"]]
        if name.endswith(("_define", "_cloze")):  # a distractor word has the answer's length and frequency band
            assert all(len(c) == len(gold) and band(counts[c.lower()]) == band(counts[gold.lower()]) for c in others)
            assert gold.lower()[:4] not in it["query"].lower().split(":")[-1] or name == "persuasion_cloze"
        else:  # a distractor completion has about the answer's length
            assert all(abs(len(c) - len(gold)) < 8 for c in others)


def test_word_tasks_never_quote_their_answer_in_the_definition(material):
    docs, counts = material
    leaky = [Document("wordnet/noun/x", "wordnet", "kaloren (noun): a kaloren-like thing that is big")]
    assert all(it["id"] != "wordnet/noun/x" for it in local.wordnet_define(leaky + docs["wordnet"], counts, 2000))


def test_fortune_attributions_are_dropped(material):
    docs, counts = material
    for it in local.fortune_complete(docs["fortunes"], counts, 50):
        assert "--" not in it["query"] and all("--" not in c for c in it["choices"])


def synthetic_material(monkeypatch, calls: list):
    docs = source_documents()
    counts = word_counts(d.text for ds in docs.values() for d in ds)

    def fake(data_dir, sources, log=print):
        calls.append(sorted(sources))
        return {s: docs[s] for s in sources}, counts

    monkeypatch.setattr(tasks, "material", fake)
    monkeypatch.setattr(tasks, "ITEMS", 200)


def test_build_writes_lm_eval_configs_and_rebuilds_corrupt_ones(tmp_path, monkeypatch):
    calls: list = []
    synthetic_material(monkeypatch, calls)
    info = tasks.build_tasks(("wordnet_define", "bible_complete"), tmp_path)
    assert {n: (i["items"], i["chance"]) for n, i in info.items()} == {
        "wordnet_define": (200, 0.25), "bible_complete": (200, 0.25)}
    folder = tasks.task_dir(tmp_path)
    yaml = (folder / "wordnet_define.yaml").read_text()
    assert "output_type: multiple_choice" in yaml and str(folder / "wordnet_define.jsonl") in yaml
    rows = [json.loads(line) for line in (folder / "wordnet_define.jsonl").read_text().splitlines()]
    assert len(rows) == 200 and set(rows[0]) == {"id", "query", "choices", "gold"}

    assert tasks.build_tasks(("wordnet_define",), tmp_path) == {"wordnet_define": info["wordnet_define"]}
    assert len(calls) == 1  # cached: no material loaded the second time

    data = (folder / "wordnet_define.jsonl").read_bytes()
    (folder / "wordnet_define.jsonl").write_bytes(data.replace(b'"gold": 1', b'"gold": 2', 1))
    logs: list[str] = []
    again = tasks.build_tasks(("wordnet_define",), tmp_path, log=logs.append)
    assert again["wordnet_define"] == info["wordnet_define"]  # rebuilt, identical
    assert any("corrupt" in line for line in logs) and len(calls) == 2
    (folder / "bible_complete.jsonl").unlink()
    assert tasks.build_tasks(("bible_complete",), tmp_path)["bible_complete"] == info["bible_complete"]


def test_too_little_material_is_one_clear_error(tmp_path, monkeypatch):
    synthetic_material(monkeypatch, [])
    monkeypatch.setattr(tasks, "ITEMS", 100_000)
    with pytest.raises(UserError, match="only .* items"):
        tasks.build_tasks(("fortune_complete",), tmp_path)


def test_task_names_resolve_with_did_you_mean():
    assert tasks.resolve("local") == tasks.local_names()
    assert tasks.resolve("none") == ()
    assert tasks.resolve("wordnet_define,arc_easy") == ("wordnet_define", "arc_easy")
    with pytest.raises(UserError, match="twice"):
        tasks.resolve("local,wordnet_define")
    with pytest.raises(UserError, match="Did you mean 'wordnet_define'"):
        tasks.check_local("wordnet_defin")


def test_words_are_counted_case_blind():
    counts = word_counts(["The cat", "the CAT sat"])
    assert counts["the"] == 2 and counts["cat"] == 2 and WORD.findall("a-b") == ["a", "b"]
