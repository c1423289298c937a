"""dsir: data selection with importance resampling (Xie et al. 2023), the log importance weight of a sample.

Computed as the authors' package computes it (data-selection 1.0.3, HashedNgramDSIR with its defaults): a
sample's text is lowercased and split by nltk's WordPunctTokenizer (runs of word characters, runs of other
non-space characters); its features are those words and their adjacent pairs joined by a space, each hashed
to bucket int(sha256(feature, UTF-8), 16) mod `buckets` (stable across processes, unlike Python's hash).
p_target and p_raw are the bucket frequencies of the target samples and of the pool (counts over total, no
add-one smoothing), and the score is sum over the sample's features of count * (log(p_target + 1e-8) -
log(p_raw + 1e-8)). tests/test_dsir_agreement.py checks it against the package. The package also drops
examples under 100 words before it resamples; here every sample is one chunk of at most one context (128
tokens by default, often under 100 words), so that filter would drop most of the pool and is not applied.

Keeps the samples that look most like the target: top-k by default. `keep=gumbel` is the paper's own
resampling: k drawn without replacement with probability proportional to exp(score), the importance weight
(select.py adds seeded Gumbel noise to these log weights and takes the top k, as the package does). The
default target is the run's dev set (`ctx.target`): held-out text that no model trains on and no metric
reads, never the test text itself.
"""

import hashlib

import numpy as np

from infoprune.criterion import Criterion, Param, register
from infoprune.errors import CriterionError


def features(text: str) -> list[str]:
    """The authors' features: lowercased WordPunct words, then each adjacent pair joined by a space."""
    from nltk.tokenize import wordpunct_tokenize  # a regex: nltk downloads nothing for it

    words = wordpunct_tokenize(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def bucket(feature: str, buckets: int) -> int:
    # The package's hash_buckets: the sha256 digest read as one big-endian integer, mod the bucket count.
    return int.from_bytes(hashlib.sha256(feature.encode("utf-8")).digest(), "big") % buckets


def feature_buckets(text: str, buckets: int, memo: dict | None = None) -> np.ndarray:
    """The bucket of every feature occurrence in the text (repeats counted); `memo` caches hashes by feature."""
    memo = {} if memo is None else memo
    out = []
    for f in features(text):
        b = memo.get(f)
        if b is None:
            b = memo[f] = bucket(f, buckets)
        out.append(b)
    return np.array(out, dtype=np.int64)


def log_probs(bucket_lists, buckets: int) -> np.ndarray:
    counts = np.zeros(buckets)
    for b in bucket_lists:
        counts += np.bincount(b, minlength=buckets)
    return np.log(counts / max(counts.sum(), 1) + 1e-8)  # the package's smoothing: 1e-8 on each probability


@register
class Dsir(Criterion):
    name = "dsir"
    version = "3"  # 3: the authors' features (nltk WordPunct, sha256 buckets) and smoothing; 2: dev-set target
    keeps = "the samples most like the target (highest hashed-n-gram log importance weight)"
    paper = "Xie et al. 2023, DSIR; featurized as the authors' data-selection 1.0.3 HashedNgramDSIR"
    params = {
        "buckets": Param(10000, "number of hash buckets for unigram+bigram features"),
        "target": Param("dev", "'dev' (the run's dev set, held out of training and of evaluation) or a source "
                        "name (that source's samples in the pool)"),
    }
    uses_target = True

    def score(self, samples, ctx):
        buckets, target = self.values["buckets"], self.values["target"]
        if buckets < 1:
            raise CriterionError(f"dsir: buckets must be at least 1, not {buckets}")
        try:
            import nltk.tokenize  # noqa: F401
        except ImportError:
            raise CriterionError("dsir tokenizes as its authors do, with nltk, which is not installed: pip install "
                                 "nltk (it is in the default install: pip install -e .)") from None
        if target == "dev":
            targets = list(ctx.target)
            if not targets:
                raise CriterionError("dsir: target=dev, but this run's dev set is empty (the corpus is too small, "
                                     "or dev_bytes is 0); name a source as the target instead")
        else:
            targets = [s for s in samples if s.source == target]
            if not targets:
                valid = ", ".join(sorted({s.source for s in samples}))
                raise CriterionError(f"dsir: unknown target source {target!r}; valid: dev, {valid}")
        memo: dict[str, int] = {}
        pool = [feature_buckets(s.text, buckets, memo) for s in samples]
        target_buckets = [feature_buckets(s.text, buckets, memo) for s in targets]
        if not sum(len(b) for b in target_buckets):
            raise CriterionError("dsir: the target samples have no words to estimate a distribution from")
        weight = log_probs(target_buckets, buckets) - log_probs(pool, buckets)
        return np.array([weight[b].sum() for b in pool], dtype=np.float64)
