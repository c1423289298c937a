"""Split documents into probe / pool / held-out / out-of-domain, and chunk them into token samples.

A sample, at most one context long, is the unit that criteria score and selection keeps or prunes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from .config import DataConfig
from .documents import Document
from .tokenizer import bytes_per_token

# Fixed bands of the document-id hash: a document's band never depends on the preset's sizes,
# so the held-out text of one preset is never training text of another.
HELDOUT_BAND = (0.0, 0.05)
PROBE_BAND = (0.05, 0.25)
POOL_BAND = (0.25, 1.0)


@dataclass(frozen=True)
class Sample:
    id: str
    source: str
    text: str
    tokens: np.ndarray  # int32 token ids, without the leading end-of-text token
    n_bytes: int


@dataclass
class Split:
    probe: list[Document]
    pool: list[Document]
    heldout: list[Document]
    ood: list[Document]


def unit_hash(key: str, salt: int = 0) -> float:
    """A document's position in [0, 1), from its id alone."""
    digest = hashlib.sha256(f"{salt}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _take_bytes(docs: list[Document], budget: int, salt: int) -> list[Document]:
    """Documents in hash order until `budget` bytes: an unbiased, deterministic subsample."""
    out, total = [], 0
    for doc in sorted(docs, key=lambda d: unit_hash(d.id, salt + 1)):
        if total >= budget:
            break
        out.append(doc)
        total += len(doc.text.encode("utf-8"))
    return sorted(out, key=lambda d: d.id)


def is_ood(doc: Document, ood: str) -> bool:
    return bool(ood) and (doc.source == ood or doc.id.startswith(ood.rstrip("/") + "/"))


def split_documents(documents: list[Document], cfg: DataConfig) -> Split:
    bands: dict[str, list[Document]] = {"probe": [], "pool": [], "heldout": [], "ood": []}
    for doc in documents:
        if is_ood(doc, cfg.ood):
            bands["ood"].append(doc)
            continue
        u = unit_hash(doc.id, cfg.split_seed)
        band = "heldout" if u < HELDOUT_BAND[1] else "probe" if u < PROBE_BAND[1] else "pool"
        bands[band].append(doc)
    return Split(
        probe=_take_bytes(bands["probe"], cfg.probe_bytes, cfg.split_seed),
        pool=_take_bytes(bands["pool"], cfg.pool_bytes, cfg.split_seed),
        heldout=_take_bytes(bands["heldout"], cfg.heldout_bytes, cfg.split_seed),
        ood=sorted(bands["ood"], key=lambda d: d.id),
    )


def chunk(documents: list[Document], tok: Tokenizer, seq_len: int, max_bytes: int | None = None) -> list[Sample]:
    """Tokenize each document once and cut it into samples of at most `seq_len` tokens."""
    byte_len = bytes_per_token(tok)
    encodings = tok.encode_batch([d.text for d in documents], add_special_tokens=False)
    samples: list[Sample] = []
    total = 0
    for doc, enc in zip(documents, encodings):
        ids = np.asarray(enc.ids, dtype=np.int32)
        for k, start in enumerate(range(0, len(ids), seq_len)):
            piece = ids[start : start + seq_len]
            n_bytes = int(byte_len[piece].sum())
            samples.append(Sample(f"{doc.id}#{k}", doc.source, tok.decode(piece.tolist()), piece, n_bytes))
            total += n_bytes
            if max_bytes is not None and total >= max_bytes:
                return samples
    return samples


def fingerprint(samples: list[Sample]) -> str:
    """Identity of a sample set: ids and token ids, so a changed tokenizer or corpus changes it."""
    h = hashlib.sha256()
    for s in samples:
        h.update(s.id.encode())
        h.update(s.tokens.tobytes())
    return h.hexdigest()[:16]


def n_tokens(samples: list[Sample]) -> int:
    return int(sum(len(s.tokens) for s in samples))
