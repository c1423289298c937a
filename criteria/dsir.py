"""dsir: data selection with importance resampling (Xie et al. 2023), the log importance weight of a sample.

Each sample is a bag of hashed word unigrams and bigrams (`buckets` buckets, words as in `word-frequency`,
bucket = crc32 of the UTF-8 feature mod `buckets`: stable across processes, unlike Python's salted hash).
p_target and p_raw are add-one smoothed bucket distributions of the target samples and of the pool; the
score is sum over the sample's features of count * (log p_target - log p_raw). Keeps the samples that look
most like the target: top-k by default. The default target is the run's dev set (`ctx.target`): held-out
text that no model trains on and no metric reads, never the test text itself. The paper resamples by
Gumbel top-k instead; selection mode
`sample` does that, but takes weights, i.e. exp(score), not these log weights, so it is not offered here.
"""

import zlib
from itertools import pairwise

import numpy as np

from criteria.word_frequency import words
from infoprune.criterion import Criterion, Param, register
from infoprune.errors import CriterionError


def feature_buckets(text: str, buckets: int) -> np.ndarray:
    """The bucket of every unigram and bigram occurrence in the text (repeats counted)."""
    ws = words(text)
    feats = ws + [f"{a} {b}" for a, b in pairwise(ws)]
    return np.array([zlib.crc32(f.encode("utf-8")) % buckets for f in feats], dtype=np.int64)


def log_dist(bucket_lists, buckets: int) -> np.ndarray:
    counts = np.zeros(buckets)
    for b in bucket_lists:
        counts += np.bincount(b, minlength=buckets)
    return np.log((counts + 1) / (counts.sum() + buckets))


@register
class Dsir(Criterion):
    name = "dsir"
    version = "2"  # 2: the target is the dev set, no longer the test set that evaluation reads
    keeps = "the samples most like the target (highest hashed-n-gram log importance weight)"
    paper = "Xie et al. 2023, DSIR"
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
        pool = [feature_buckets(s.text, buckets) for s in samples]
        weight = log_dist([feature_buckets(s.text, buckets) for s in targets], buckets) - log_dist(pool, buckets)
        return np.array([weight[b].sum() for b in pool], dtype=np.float64)
