"""`bench export`: the documents a preset reads from a corpus, as one JSON-lines file to carry elsewhere.

A machine without a network cannot build the default corpus (it fetches Debian packages). The file holds each
document of the preset's probe slice, pool, test and dev sets and the out-of-domain set, with its id and
source. Bands come from a document's id alone and each part is a hash-order prefix of its band, so
`--corpus jsonl:FILE` with the same preset splits the file into exactly the same parts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .atomic import atomic_file
from .config import RunConfig
from .samples import split_documents
from .sources import load_corpus


def export(cfg: RunConfig, out: Path, log: Callable[[str], None] = print) -> dict[str, int]:
    """Write the preset's documents to `out`; return the number of documents and bytes of text written."""
    corpus = load_corpus(cfg.data.corpus, Path(cfg.data_dir), log=log)
    split = split_documents(corpus.documents, cfg.data)
    docs = sorted(split.probe + split.pool + split.test + split.dev + split.ood, key=lambda d: d.id)
    with atomic_file(Path(out)) as f:
        for d in docs:
            f.write((json.dumps({"id": d.id, "source": d.source, "text": d.text}, ensure_ascii=False) + "\n").encode())
    return {"documents": len(docs), "bytes": sum(len(d.text.encode()) for d in docs)}
