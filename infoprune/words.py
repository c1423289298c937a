"""Word statistics shared by criteria: what a word is, and a sample's mean surprisal under the pool's unigrams."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

# A word is a maximal run of Unicode letters or digits (\w without the underscore) in the lowercased
# text; punctuation, whitespace and underscores only separate words.
WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def word_bits(samples) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: mean -log2 f(w) over its words, and its number of words.

    f is counted over the whole `samples` set, so it depends on which samples are scored, never on
    their order. A sample without words scores 0 bits: nothing in it is surprising, and 0 is at or
    below every other score, so such samples are pruned first.
    """
    per = [words(s.text) for s in samples]
    counts = Counter(w for ws in per for w in ws)
    log_total = np.log2(max(1, sum(counts.values())))
    bits = [log_total - np.log2([counts[w] for w in ws]).mean() if ws else 0.0 for ws in per]
    return np.array(bits, dtype=np.float64), np.array([len(ws) for ws in per], dtype=np.float64)
