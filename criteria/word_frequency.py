"""word-frequency: a sample's mean word surprisal under the pool's own unigram distribution, H(W,f).

Kim & Baek v3 (arXiv 2406.14124 v3, "... based on Information Entropy") score x by the mean over its words
of -log2 f(w), f the relative frequency of w among all words of the pool being scored. Model-free: it
keeps the samples made of rare words and prunes those made of the commonest ones first.
"""

import re
from collections import Counter

import numpy as np

from infoprune.criterion import Criterion, register

# A word is a maximal run of Unicode letters or digits (\w without the underscore) in the lowercased
# text; punctuation, whitespace and underscores only separate words. `dsir` shares this definition.
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


@register
class WordFrequency(Criterion):
    name = "word-frequency"
    version = "1"
    keeps = "the samples whose words are rarest in the pool (highest mean -log2 word frequency)"
    paper = "Kim & Baek 2024, arXiv 2406.14124 v3 (H(W,f))"

    def score(self, samples, ctx):
        return word_bits(samples)[0]
