"""information: the seed paper's measure, a sample's description length under a trained probe LM.

Kim & Baek (arXiv 2406.14124 v1) read the total code length, -sum_t log2 q(x_t | x_<t) in bits, as the
sample's information content; the least informative samples are pruned first. It is a total, not a
mean, so it grows with length; `perplexity` is the per-token view.
"""

import math

import numpy as np

from infoprune.criterion import Criterion, register


@register
class Information(Criterion):
    name = "information"
    keeps = "the most informative samples (longest description length in bits)"
    paper = "Kim & Baek 2024, arXiv 2406.14124 v1"
    uses_probe = True
    per_sample = True
    variants = {"information-middle": {"keep": "middle"}}  # the middle band, as compression-band filters keep

    def score(self, samples, ctx):
        return np.array([nll.sum() / math.log(2) for nll in ctx.token_nll(samples)])
