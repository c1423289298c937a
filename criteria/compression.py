"""compression: a model-free view of redundancy, how well zlib squeezes a sample's raw bytes.

The Entropy Law / ZIP (Yin et al. 2024) selects sets greedily by compression ratio; this is its simple
per-sample form, ratio = len(bytes) / len(zlib.compress(bytes, 9)). Repetitive text compresses well and
is pruned first; the score is -ratio, so the least compressible samples rank highest.
"""

import zlib

import numpy as np

from infoprune.criterion import Criterion, register


@register
class Compression(Criterion):
    name = "compression"
    version = "1"
    keeps = "the least compressible samples (lowest zlib compression ratio; score = -ratio)"
    paper = "Yin et al. 2024, Entropy Law / ZIP"
    per_sample = True
    variants = {"compression-middle": {"keep": "middle"}}  # the middle band, as compression-band filters keep

    def score(self, samples, ctx):
        ratios = []
        for s in samples:
            raw = s.text.encode("utf-8")
            # zlib's header keeps the denominator >= 8 bytes, so even an empty text has a finite ratio (0).
            ratios.append(len(raw) / len(zlib.compress(raw, 9)))
        return -np.array(ratios, dtype=np.float64)
