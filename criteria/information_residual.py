"""information-residual: the seed paper's description length with the part that sample length explains taken out.

`information` is a total, -sum_t log2 q(x_t | x_<t), so a longer sample scores higher for its length alone
(on the default corpus its Spearman with token count is about 0.96). Here the total is regressed on the
token count over the pool by least squares, bits ~ a + b * tokens, and the score is the residual: how many
more bits a sample takes than samples of its length usually do. It tests the paper's idea apart from length.
Because the fit is over the pool, a score depends on the other samples: it does not stream.
"""

import math

import numpy as np

from infoprune.criterion import Criterion, register


@register
class InformationResidual(Criterion):
    name = "information-residual"
    keeps = "the samples with the most bits beyond what their length predicts (residual of bits on tokens)"
    paper = "Kim & Baek 2024, arXiv 2406.14124 v1, controlled for length"
    uses_probe = True

    def score(self, samples, ctx):
        bits = np.array([nll.sum() / math.log(2) for nll in ctx.token_nll(samples)], dtype=np.float64)
        tokens = np.array([len(s.tokens) for s in samples], dtype=np.float64)
        if len(samples) < 2 or np.ptp(tokens) == 0:
            return bits - bits.mean()  # one length: the residual is the deviation from the mean
        slope, intercept = np.polyfit(tokens, bits, 1)
        return bits - (intercept + slope * tokens)
