"""entropy: the seed paper's v3 measure, probe-LM surprisal plus word-frequency surprisal.

Kim & Baek v3 (arXiv 2406.14124 v3) score x by H(W,q) + H(W,f). H(W,q) here is the probe's code length of
x in bits per word (total NLL / ln 2 / number of words, at least one); H(W,f) is `word-frequency`'s mean
-log2 f(w). `normalize` records how the two are put on one scale before they are summed:
- `zscore` (default): each term standardised over the pool (mean 0, std 1; a constant term adds 0), so
  neither dominates by its units or spread;
- `bits`: both already in bits per word, added as they are.
Keeps the highest sum: the samples most surprising to both the probe and the pool's word statistics.
"""

import math

import numpy as np

from infoprune.criterion import Criterion, Param, register
from infoprune.words import word_bits


def zscore(x: np.ndarray) -> np.ndarray:
    # fsum is exactly rounded, so the pool statistics do not depend on the order of the samples.
    mean = math.fsum(x) / len(x)
    std = math.sqrt(math.fsum((x - mean) ** 2) / len(x))
    return (x - mean) / std if std > 0 else np.zeros_like(x)


@register
class Entropy(Criterion):
    name = "entropy"
    version = "1"
    keeps = "the samples most surprising to the probe and to the pool's word frequencies (H(W,q) + H(W,f))"
    paper = "Kim & Baek 2024, arXiv 2406.14124 v3"
    params = {"normalize": Param("zscore", "put H(W,q) and H(W,f) on one scale: standardise each over the "
                                 "pool, or add both as bits per word", ("zscore", "bits"))}
    uses_probe = True

    def terms(self, samples, ctx):
        """The two summands, H(W,q) and H(W,f), on the scale `normalize` puts them."""
        if not samples:
            return {"H(W,q)": np.zeros(0), "H(W,f)": np.zeros(0)}
        freq_bits, n_words = word_bits(samples)
        total_bits = np.array([nll.sum() / math.log(2) for nll in ctx.token_nll(samples)])
        probe_bits = total_bits / np.maximum(n_words, 1)
        if self.values["normalize"] == "bits":
            return {"H(W,q)": probe_bits, "H(W,f)": freq_bits}
        return {"H(W,q)": zscore(probe_bits), "H(W,f)": zscore(freq_bits)}

    def score(self, samples, ctx):
        terms = self.terms(samples, ctx)
        return terms["H(W,q)"] + terms["H(W,f)"]
