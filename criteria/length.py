"""length: the common heuristic that longer samples carry more, measured in tokens or bytes."""

import numpy as np

from infoprune.criterion import Criterion, Param, register


@register
class Length(Criterion):
    name = "length"
    keeps = "the longest samples"
    paper = "common heuristic baseline"
    per_sample = True
    params = {"unit": Param("tokens", "count tokens or UTF-8 bytes", ("tokens", "bytes"))}

    def score(self, samples, ctx):
        if self.values["unit"] == "bytes":
            return np.array([s.n_bytes for s in samples], dtype=np.float64)
        return np.array([len(s.tokens) for s in samples], dtype=np.float64)
