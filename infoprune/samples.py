"""Split documents into probe / pool / held-out / out-of-domain, and chunk them into token samples.

A sample, at most one context long, is the unit that criteria score and selection keeps or prunes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from .config import DataConfig
from .documents import Document
from .tokenizer import bytes_per_token

# Fixed bands of the document-id hash: a document's band never depends on the preset's sizes, so the
# held-out text of one preset is never training text of another.
# - test: evaluation alone reads it (held-out bits per byte), and the downstream tasks are built from it. A tenth
#   of the documents, because the smallest task source (fortunes) needs 1,000 of its documents.
# - dev: criteria that select towards a target distribution may read it (ScoringContext.target). Cut from the
#   start of what was the probe band, so that the test band, the tasks and the pool stayed as they were.
# - probe: the probe LM and the tokenizer train on a slice of it. Then the pool.
BANDS = (("test", 0.1), ("dev", 0.12), ("probe", 0.3), ("pool", 1.0))  # (band, upper end of its hash range)


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
    test: list[Document]
    dev: list[Document]
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


def band(doc: Document, data: DataConfig) -> str:
    """The part of the split `doc` belongs to: `ood`, or one of BANDS by the hash of its id."""
    if is_ood(doc, data.ood):
        return "ood"
    u = unit_hash(doc.id, data.split_seed)
    return next(name for name, upper in BANDS if u < upper)


def split_documents(documents: list[Document], cfg: DataConfig) -> Split:
    bands: dict[str, list[Document]] = {"ood": [], **{name: [] for name, _ in BANDS}}
    for doc in documents:
        bands[band(doc, cfg)].append(doc)
    budget = {"probe": cfg.probe_bytes, "pool": cfg.pool_bytes, "test": cfg.test_bytes, "dev": cfg.dev_bytes}
    taken = {name: _take_bytes(bands[name], budget[name], cfg.split_seed) for name in budget}
    return Split(**taken, ood=sorted(bands["ood"], key=lambda d: d.id))


# Text is tokenized a bounded amount at a time: a tokenizers Encoding holds ~350 bytes a token (ids,
# offsets, token strings), so encoding a 10 MB document whole took 1.9 GB, on one core. In pieces of
# 64k characters, 1M characters a batch, tokenizing it peaks at ~130 MB on both cores and gives the
# same ids (measured with a 300-token vocabulary: 5.5M tokens, 2.8 s of CPU).
PIECE_CHARS = 1 << 16
BATCH_CHARS = 1 << 20
_CUT = re.compile(r" \S")  # in reversed text: a space that follows a non-space character


def encoding_pieces(text: str, limit: int = PIECE_CHARS) -> Iterator[str]:
    """Cut `text` into pieces of at most `limit` characters whose token ids, joined, are those of the whole.

    Each cut falls just before a space that follows a non-space character (`word| word`). The byte-level
    pre-tokenizer (GPT-2's pattern) always starts a pre-token there and looks at nothing before it, and
    BPE never merges across pre-tokens, so the ids do not change. Only a stretch of `limit` characters
    with no such space (no words at all: a base64 blob, say) is cut where it is; those ids may differ.
    """
    start, n = 0, len(text)
    while n - start > limit:
        # The last cut c in (start, start + limit]: text[c] == " " and text[c - 1] is not whitespace.
        window = text[start : start + limit + 1][::-1]
        m = _CUT.search(window)
        cut = start + limit - m.start() if m else start + limit
        yield text[start:cut]
        start = cut
    yield text[start:]


def token_ids(documents: Iterable[Document], tok: Tokenizer) -> Iterator[np.ndarray]:
    """The int32 token ids of each document, in order, without special tokens.

    Documents are encoded ~BATCH_CHARS at a time (long ones in `encoding_pieces`), in parallel, and
    lazily: a caller that stops early leaves the rest unencoded.
    """
    queue: list[tuple[int, str]] = []  # (document index, piece) not encoded yet
    parts: dict[int, list[np.ndarray]] = {}
    size = emitted = count = 0

    def encode_queue() -> None:
        encodings = tok.encode_batch_fast([piece for _, piece in queue], add_special_tokens=False)
        for (i, _), enc in zip(queue, encodings):
            parts.setdefault(i, []).append(np.asarray(enc.ids, dtype=np.int32))
        queue.clear()

    def whole(i: int) -> np.ndarray:
        found = parts.pop(i)
        return found[0] if len(found) == 1 else np.concatenate(found)

    for i, doc in enumerate(documents):
        count = i + 1
        for piece in encoding_pieces(doc.text, PIECE_CHARS):
            queue.append((i, piece))
            size += len(piece)
            if size >= BATCH_CHARS:
                encode_queue()
                size = 0
                for j in range(emitted, i):  # documents before i are complete
                    yield whole(j)
                emitted = i
    encode_queue()
    for j in range(emitted, count):
        yield whole(j)


def chunk(documents: list[Document], tok: Tokenizer, seq_len: int, max_bytes: int | None = None) -> list[Sample]:
    """Tokenize each document once and cut it into samples of at most `seq_len` tokens.

    Time and memory grow linearly with the text: a single 10 MB document is cut like any other.
    With `max_bytes`, stop after the sample that reaches it, without tokenizing the rest.
    """
    byte_len = bytes_per_token(tok)
    samples: list[Sample] = []
    total = 0
    for doc, ids in zip(documents, token_ids(documents, tok)):
        if not len(ids):
            continue
        starts = range(0, len(ids), seq_len)
        pieces = [ids[start : start + seq_len] for start in starts]
        sizes = np.add.reduceat(byte_len[ids], np.asarray(starts))
        flat = ids.tolist()  # one conversion, then list slices: 20x faster than a tolist per sample
        texts = tok.decode_batch([flat[start : start + seq_len] for start in starts])
        for k, (piece, text, n_bytes) in enumerate(zip(pieces, texts, sizes.tolist())):
            samples.append(Sample(f"{doc.id}#{k}", doc.source, text, piece, n_bytes))
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
