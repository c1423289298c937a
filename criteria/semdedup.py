"""semdedup: Abbas et al.'s SemDedup, semantic deduplication of embeddings within k-means clusters.

Abbas et al. 2023 (arXiv 2303.09540) cluster the embeddings with k-means, then within each cluster
order the members and drop every one whose cosine similarity to an earlier member exceeds 1 - eps.
Here a sample's redundancy is that maximum cosine to an earlier member of its cluster (-1, the lowest
cosine, for the first), and the score is -redundancy: top-k keeps the non-duplicates first. This turns
SemDedup's threshold into a ranking, so any pruning ratio can be hit exactly: keeping the k highest
scores is SemDedup with the eps that leaves k samples (up to ties). As in their reference code, a sample
is compared with every earlier member, pruned or not, so at any eps the kept set is theirs.

Order within a cluster: farthest from the centroid first (lowest cosine to it), ties by sample id, as
Abbas et al. keep the member farthest from the centroid of each group of duplicates ("hard" examples).
Exact duplicates fall in one cluster and tie on every key but the id, so the copy with the smallest id
is kept and every other copy scores -1 (cosine 1), below any distinct sample: duplicates are pruned
first. Embeddings are sorted by sample id before clustering, so the clusters, and the scores, do not
depend on pool order. k-means and the similarity products run on one thread (`single_threaded`): scikit-learn
and numpy's BLAS split their sums by the thread count, which changed the scores from 1 to 2 threads. k-means
runs on the unit vectors, where Euclidean distance is a monotone
function of cosine, as in their spherical k-means. Cost: k-means is O(N k d) per iteration with k = N / 50
by default, so about 3 s at 10k samples and 20 s at 30k on two cores.
"""

import numpy as np

from infoprune.criterion import Criterion, Param, register
from infoprune.determinism import single_threaded
from infoprune.errors import CriterionError

N_INIT = 1  # one k-means++ start: clusters only bound which pairs are compared, so a better optimum buys little
BLOCK = 512  # columns per block of a cluster's similarity matrix, so a large cluster stays in memory
SAMPLES_PER_CLUSTER = 50  # auto cluster count: N // 50, so a cluster's all-pairs cost stays small


def redundancy(x: np.ndarray) -> np.ndarray:
    """For rows in their keep order: max cosine of each row to any earlier row, -1 for the first."""
    out = np.full(len(x), -1.0)
    for start in range(1, len(x), BLOCK):
        stop = min(start + BLOCK, len(x))
        sim = x[:stop] @ x[start:stop].T  # rows: candidates i; columns: members j in [start, stop)
        sim[np.arange(stop)[:, None] >= np.arange(start, stop)[None, :]] = -np.inf  # keep i < j only
        out[start:stop] = np.maximum(sim.max(axis=0), -1.0)
    return out


@register
class SemDedup(Criterion):
    name = "semdedup"
    uses_embedder = True
    version = "2"  # 2: thread-count independent
    keeps = "the non-duplicates: lowest max cosine to an earlier member of the same k-means cluster"
    paper = "Abbas et al. 2023, SemDeDup, arXiv 2303.09540"
    params = {
        "clusters": Param(0, f"k-means clusters; 0: max(1, N // {SAMPLES_PER_CLUSTER})"),
        "kmeans_seed": Param(0, "random_state of k-means"),
    }

    def score(self, samples, ctx):
        n = len(samples)
        if n == 0:
            return np.zeros(0)
        k = self.values["clusters"] or max(1, n // SAMPLES_PER_CLUSTER)
        if k < 1:
            raise CriterionError(f"semdedup: clusters must be positive (or 0 for auto), not {k}")
        k = min(k, n)
        ids = np.array([s.id for s in samples])
        by_id = np.argsort(ids, kind="stable")  # cluster in id order, so pool order changes nothing
        x = ctx.embeddings(samples)[by_id].astype(np.float64)
        with single_threaded():
            return self._scores(x, ids, by_id, k)

    def _scores(self, x: np.ndarray, ids: np.ndarray, by_id: np.ndarray, k: int) -> np.ndarray:
        from sklearn.cluster import KMeans  # here, not at the top: `bench list` imports every criterion

        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=self.values["kmeans_seed"]).fit(x)
        centroids = km.cluster_centers_ / np.maximum(np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True), 1e-12)
        # Rounded so that copies of one vector tie exactly, whatever the last bit of their dot products.
        to_centroid = np.round(np.einsum("ij,ij->i", x, centroids[km.labels_]), 9)
        # Keep order: by cluster, then farthest from the centroid first, then by id. lexsort's last key
        # is its primary one.
        order = np.lexsort((ids[by_id], to_centroid, km.labels_))
        scores = np.empty(len(x))
        for members in np.split(order, np.flatnonzero(np.diff(km.labels_[order])) + 1):
            scores[by_id[members]] = -redundancy(x[members])
        return scores
