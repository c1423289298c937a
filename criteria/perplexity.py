"""perplexity: a sample's mean per-token NLL under the probe LM (log perplexity, nats per token).

The classic reference-model filter, run in each direction the literature argues for: Marion et al. 2023
keep the middle band, Ankner et al. 2024 keep the top (most perplexing) on the Pile, and CCNet/DCLM-style
filters keep the bottom (most fluent). The score is the same in all three; `keep` picks the band.
"""

import numpy as np

from infoprune.criterion import Criterion, register


@register
class Perplexity(Criterion):
    name = "perplexity"
    version = "1"
    keeps = "the chosen band of mean per-token NLL under the probe (top = most perplexing)"
    paper = "Marion et al. 2023 (middle); Ankner et al. 2024 (top, Pile); CCNet/DCLM filters (bottom)"
    variants = {"perplexity-middle": {"keep": "middle"}, "perplexity-bottom": {"keep": "bottom"}}
    uses_probe = True
    per_sample = True

    def score(self, samples, ctx):
        # A mean, not a total: unlike `information`, it does not grow with the sample's length.
        return np.array([nll.mean() for nll in ctx.token_nll(samples)], dtype=np.float64)
