"""The five local tasks: definition -> word (WordNet, GCIDE), last-word cloze (Persuasion), and second-half
completion (fortunes, Bible verses). Four choices each; the gold one is at each position equally often.

Distractors are drawn from the same task's material, matched on surface statistics so that length or word
frequency alone does not give the answer away: a word's distractors share its length and frequency band; a
completion's distractors fall in its 8-character length bucket and its mean word-frequency band.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from ..config import stable_hash
from ..documents import Document
from ..samples import unit_hash
from .spec import N_CHOICES, task

WORD = re.compile(r"[A-Za-z]+")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’]?\s+")


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(int(stable_hash("task", name, n=8), 16))


def word_counts(texts) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(w.lower() for w in WORD.findall(text))
    return counts


def band(count: int) -> int:
    """Frequency band: powers of two of the count, so 'the' and 'aardvark' never stand in for each other."""
    return int(math.log2(count + 1))


def groups(candidates, key) -> dict:
    """Candidates grouped by `key` (sorted, distinct), so a distractor is found without a scan of all."""
    out: dict = {}
    for c in sorted(set(candidates)):
        out.setdefault(key(c), []).append(c)
    return out


def pick(gold: str, same_key: list[str], rng: np.random.Generator) -> list[str] | None:
    """N_CHOICES - 1 distinct distractors from the candidates that share the key of `gold`, or None."""
    pool = [c for c in same_key if c.lower() != gold.lower()]
    if len(pool) < N_CHOICES - 1:
        return None
    return [pool[i] for i in rng.choice(len(pool), N_CHOICES - 1, replace=False)]


def item(query: str, gold: str, distractors: list[str], uid: str) -> dict:
    return {"id": uid, "query": query, "choices": [gold, *distractors], "gold": 0}


def balance(items: list[dict], name: str) -> list[dict]:
    """Move each gold choice to a position from a shuffled, exactly balanced sequence: always answering
    the same position scores exactly chance."""
    rng = rng_for(name + "/positions")
    positions = rng.permutation(np.arange(len(items)) % N_CHOICES)
    for it, at in zip(items, positions):
        gold, *others = it["choices"]
        others.insert(int(at), gold)
        it["choices"], it["gold"] = others, int(at)
    return items


def by_hash(pairs: list[tuple[str, object]]) -> list:
    """Candidates in a fixed pseudo-random order of their ids: a deterministic, unbiased subsample."""
    return [x for _, x in sorted(pairs, key=lambda p: unit_hash(p[0], 7))]


def word_items(name: str, entries: list[tuple[str, str, str, str]], counts: Counter, n: int) -> list[dict]:
    """Definition -> word items from (id, word, part of speech, definition) entries."""
    by_pos = groups([(pos, w) for _, w, pos, _ in entries], lambda pw: (pw[0], len(pw[1]), band(counts[pw[1].lower()])))
    rng = rng_for(name)
    items = []
    for uid, word, pos, definition in by_hash([(e[0], e) for e in entries]):
        if len(items) == n:
            break
        if word.lower()[: max(4, len(word) - 3)] in definition.lower():  # it names its answer, or its stem
            continue
        same = by_pos[(pos, len(word), band(counts[word.lower()]))]
        distractors = pick(word, [w for _, w in same], rng)
        if distractors:
            items.append(item(f"Definition: {definition}\nWord:", word, distractors, uid))
    return balance(items, name)


def completion_items(name: str, texts: list[tuple[str, str]], counts: Counter, n: int, min_words: int = 8) -> list[dict]:
    """First half of a text -> its second half, among the second halves of other texts of similar length."""
    halves = []
    for uid, text in texts:
        words = text.split()
        if min_words <= len(words) <= 60:
            cut = len(words) // 2
            halves.append((uid, " ".join(words[:cut]), " ".join(words[cut:])))

    def key(s: str) -> tuple[int, int]:
        ws = [w.lower() for w in WORD.findall(s)] or [""]
        return len(s) // 8, band(int(2 ** np.mean([math.log2(counts[w] + 1) for w in ws])))

    by_key = groups([h[2] for h in halves], key)
    rng = rng_for(name)
    items = []
    for uid, first, second in by_hash([(h[0], h) for h in halves]):
        if len(items) == n:
            break
        distractors = pick(second, by_key[key(second)], rng)
        if distractors:
            items.append(item(first, second, distractors, uid))
    return balance(items, name)


@task("wordnet_define", "wordnet", "WordNet gloss -> its word (same part of speech, length, frequency band)")
def wordnet_define(docs: list[Document], counts: Counter, n: int) -> list[dict]:
    entries = []
    for doc in docs:
        head, sep, gloss = doc.text.partition("): ")
        lemmas, _, pos = head.partition(" (")
        word = lemmas.split(", ")[0]
        definition = gloss.split('; "')[0].strip()  # drop usage examples, which use the word itself
        if sep and word.isalpha() and len(word) >= 3 and len(definition) >= 10:
            entries.append((doc.id, word, pos, definition))
    return word_items("wordnet_define", entries, counts, n)


@task("gcide_define", "gcide", "GCIDE first sense -> its headword (same part of speech, length, frequency band)")
def gcide_define(docs: list[Document], counts: Counter, n: int) -> list[dict]:
    entries = []
    for doc in docs:
        first, _, body = doc.text.partition("\n")
        word, sep, pos = first.partition(": ")
        sense = body.split("\n\n")[0]
        sense = re.split(r"\n\s*2\.", sense)[0]
        definition = " ".join(re.sub(r"^\s*1\.\s*", "", sense).split()).rstrip(" -;")
        if sep and word.isalpha() and len(word) >= 3 and len(definition) >= 10:
            entries.append((doc.id, word, pos.strip(), definition))
    return word_items("gcide_define", entries, counts, n)


@task("persuasion_cloze", "austen", "Persuasion: the last word of a sentence, given the text before it")
def persuasion_cloze(docs: list[Document], counts: Counter, n: int) -> list[dict]:
    by_key = groups([w for w in counts if len(w) >= 3], lambda w: (len(w), band(counts[w])))
    rng = rng_for("persuasion_cloze")
    candidates = []
    for doc in docs:
        for p, para in enumerate(doc.text.split("\n\n")):
            sentences = SENTENCE_END.split(" ".join(para.split()))
            for s, sentence in enumerate(sentences):
                m = re.search(r"\s([a-z]{3,})[.!?][\"'”’]?$", sentence)
                if m and len(sentence.split()) >= 10:
                    before = " ".join(sentences[max(0, s - 1):s] + [sentence[: m.start()]])
                    uid = f"{doc.id}/{p}/{s}"
                    candidates.append((uid, (uid, before, m.group(1))))
    items = []
    for uid, context, word in by_hash(candidates):
        if len(items) == n:
            break
        if word in context.lower().split():  # an untrained model copies recent words: no free answers
            continue
        distractors = pick(word, by_key.get((len(word), band(counts[word])), []), rng)
        if distractors:
            items.append(item(context, word, distractors, uid))
    return balance(items, "persuasion_cloze")


@task("fortune_complete", "fortunes", "a fortune's second half among those of 3 fortunes of similar length")
def fortune_complete(docs: list[Document], counts: Counter, n: int) -> list[dict]:
    texts = []
    for doc in docs:
        lines = [ln for ln in doc.text.split("\n") if not ln.strip().startswith("--")]  # drop attributions
        texts.append((doc.id, " ".join(" ".join(lines).split())))
    return completion_items("fortune_complete", texts, counts, n)


@task("bible_complete", "bible", "a verse's second half among those of 3 verses of similar length")
def bible_complete(docs: list[Document], counts: Counter, n: int) -> list[dict]:
    texts = []
    for doc in docs:
        for p, para in enumerate(doc.text.split("\n\n")):
            for s, sentence in enumerate(SENTENCE_END.split(" ".join(para.split()))):
                texts.append((f"{doc.id}/{p}/{s}", sentence))
    return completion_items("bible_complete", texts, counts, n, min_words=10)
