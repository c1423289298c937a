"""random: the baseline every paper prunes against, an exact-k uniform choice.

The score is a hash of (selection seed, sample id), so it is reproducible, independent of pool order,
and different for every seed: never the clock, never a shared global RNG.
"""

import numpy as np

from infoprune.criterion import Criterion, register
from infoprune.samples import unit_hash


@register
class Random(Criterion):
    name = "random"
    keeps = "a uniform random subset (hash of seed and sample id)"
    paper = "every paper's baseline"
    seeded = True
    per_sample = True

    def score(self, samples, ctx):
        return np.array([unit_hash(s.id, ctx.seed) for s in samples])
