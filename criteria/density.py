"""density: Sachdeva et al.'s Density sampler, inverse-propensity sampling by embedding density.

Sachdeva et al. 2024 ("How to Train Data-Efficient LLMs", arXiv 2402.09668) target coverage rather than
quality: estimate the kernel density of every sample's embedding among the whole pool, then sample
with probability proportional to 1 / density, so crowded regions (near-duplicates, over-represented
topics) are thinned and sparse ones keep their share. The score here is 1 / density and the selection
mode is `sample`: select.py's seeded Gumbel top-k does the drawing, so the scores never depend on the
selection seed, only the draw does.

The density of x is the mean over the pool (x itself included, so it is at least 1 / N) of the angular
kernel k(x, y) = (1 - angle(x, y) / pi) ** bits: the probability that `bits` random hyperplanes all put
x and y on the same side. That is exactly what the hashing sketch estimates, so `exact` (all pairs, in
blocks, O(N^2)) and `sketch` differ only by the sketch's noise. `bits` follows from the bandwidth h
unless set: bits = round(1 / (h^2 ln 2)) makes k equal the Gaussian kernel exp(-|x - y|^2 / 2h^2) on
orthogonal (unrelated) unit vectors, 2^-bits = e^(-1/h^2). Default h = 0.3, i.e. 16 bits: on normalised
MiniLM vectors the kernel is about 0.5 at cosine 0.99, 0.18 at 0.95 (near-duplicates), 0.01 at 0.7 (same
topic), 1.5e-5 at 0 (unrelated). So the background of N unrelated samples adds only ~N / 65536 to a
density whose self-term is 1: the density counts a sample's close neighbours, not the pool at large.
At h = 0.5 (6 bits) that background would dominate and make the weights near-uniform; at h = 0.2
(36 bits) only near-exact copies would count.

The sketch is a RACE kernel-sum sketch (Coleman & Shrivastava 2020; Coleman is a co-author of Sachdeva
et al., whose Density sampler uses this kind of sketch): `tables` independent tables, each hashing a
vector to the `bits`-bit pattern of signs of its projections on `bits` random hyperplanes (SimHash, the
LSH family for cosine, which is what MiniLM is trained for); density(x) ~ mean over tables of (pool points
in x's bucket) / N. Cost: one N x d x (tables * bits) projection plus one counting pass per table, linear
in N. 64 tables by default: on clustered synthetic pools the rank agreement with `exact` rises from about
0.8 (32 tables) to 0.85-0.9 (64), in under 2 s for 100k samples on two cores, nothing beside the
embedding pass. The hyperplanes come from a numpy Generator seeded by `sketch_seed`, never the clock.
"""

import math

import numpy as np

from infoprune.criterion import Criterion, Param, register
from infoprune.determinism import single_threaded
from infoprune.errors import CriterionError

BLOCK = 4096  # rows per block: bounds the projection (sketch) and kernel (exact) matrices in memory
TABLE_GROUP = 16  # tables hashed per pass over the vectors
MAX_BINCOUNT_BITS = 20  # up to 2^20 buckets, count with one bincount array; beyond, by sorting


def unit_rows(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    x = np.asarray(x, dtype=dtype)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def n_bits(bandwidth: float, bits: int) -> int:
    if bits == 0:
        if not bandwidth > 0:
            raise CriterionError(f"density: bandwidth must be positive, not {bandwidth}")
        bits = round(1.0 / (bandwidth**2 * math.log(2)))
    if not 1 <= bits <= 62:
        raise CriterionError(f"density: {bits} bits per table is outside 1..62 (bandwidth {bandwidth})")
    return bits


def exact_density(x: np.ndarray, bits: int) -> np.ndarray:
    """Mean angular kernel of each row to all rows, in row blocks: O(N^2 d) time, O(BLOCK N) memory."""
    # float64: arccos is steep near cosine 1, where a float32 product of a vector with itself is
    # off by 3e-4 radians, and near-duplicates are exactly where the kernel matters most.
    x = unit_rows(x, np.float64)
    out = np.empty(len(x))
    for start in range(0, len(x), BLOCK):
        cos = np.clip(x[start : start + BLOCK] @ x.T, -1.0, 1.0)
        out[start : start + BLOCK] = ((1.0 - np.arccos(cos) / np.pi) ** bits).mean(axis=1)
    return out


def sketch_density(x: np.ndarray, bits: int, tables: int, seed: int) -> np.ndarray:
    """RACE estimate of `exact_density`: bucket counts in `tables` sign-random-projection tables."""
    if tables < 1:
        raise CriterionError(f"density: tables must be at least 1, not {tables}")
    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    planes = np.random.default_rng(seed).standard_normal((d, tables * bits)).astype(np.float32)
    weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    counts = np.zeros(n, dtype=np.int64)
    for first in range(0, tables, TABLE_GROUP):  # a few tables at a time: codes stay N x TABLE_GROUP
        group = planes[:, first * bits : (first + TABLE_GROUP) * bits]
        codes = np.empty((n, group.shape[1] // bits), dtype=np.int64)
        for start in range(0, n, BLOCK):
            signs = (x[start : start + BLOCK] @ group > 0).reshape(-1, codes.shape[1], bits)
            codes[start : start + BLOCK] = signs.astype(np.int64) @ weights
        for code in codes.T:
            if bits <= MAX_BINCOUNT_BITS:
                counts += np.bincount(code, minlength=1 << bits)[code]
            else:  # 2^bits counters would not fit: count the occupied buckets only (a sort, N log N)
                _, inverse, per_bucket = np.unique(code, return_inverse=True, return_counts=True)
                counts += per_bucket[inverse]
    return counts / (tables * n)


@register
class Density(Criterion):
    name = "density"
    uses_embedder = True
    version = "1"
    keeps = "a coverage sample, drawn with probability proportional to 1 / embedding density"
    paper = "Sachdeva et al. 2024, How to Train Data-Efficient LLMs, arXiv 2402.09668 (Density sampling)"
    mode = "sample"
    params = {
        "bandwidth": Param(0.3, "kernel width on unit vectors; sets bits = round(1 / (h^2 ln 2)) unless bits is given"),
        "method": Param("sketch", "sketch: hashing estimate, linear in N; exact: all pairs, O(N^2)", ("sketch", "exact")),
        "tables": Param(64, "independent hash tables of the sketch (more: less noise, linear cost)"),
        "bits": Param(0, "hyperplanes per table = the kernel's exponent; 0: from the bandwidth"),
        "sketch_seed": Param(0, "seed of the sketch's random hyperplanes"),
    }

    def score(self, samples, ctx):
        v = self.values
        bits = n_bits(v["bandwidth"], v["bits"])
        x = ctx.embeddings(samples)
        with single_threaded():  # numpy's BLAS may split a product's sums by the thread count
            if v["method"] == "exact":
                density = exact_density(x, bits)
            else:
                density = sketch_density(x, bits, v["tables"], v["sketch_seed"])  # signs ignore the norm
        return 1.0 / density
