"""Corpora read lazily, one document at a time, for `infoprune/stream.py` (corpora larger than memory).

Ids, validation and messages come from `_files.py`, as for `_load.py`, so a document gets the id (and so the
hash band) it gets when the corpus is loaded into memory. A jsonl file is read line by line rather than through
`datasets`: its JSON reader infers one type per column and block, so an `id` that is a number on one line
and a string on another fails, and its errors carry no line number. A Hugging Face dataset is streamed
(or memory-mapped from the local cache when offline).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from infoprune.documents import Document
from infoprune.hub import offline_mode
from infoprune.sources._files import hf_documents, read_jsonl, text_document, text_files
from infoprune.sources._load import FORMS, _hub_reachable, _resolve, load_corpus
from infoprune.sources._registry import CorpusError

Log = Callable[[str], None]


def open_corpus(spec: str, data_dir: Path, log: Log = print) -> Callable[[], Iterator[Document]]:
    """A function that reads the corpus `spec` from its start each time it is called, blank documents included."""
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if kind == "default":
        names = _resolve(arg)
        # One source in memory at a time: the default corpus is cached per source (sources/_load.py).
        return lambda: (d for n in names for d in load_corpus(f"default:{n}", data_dir, log).documents)
    if kind == "jsonl" and arg:
        path = Path(arg).expanduser()
        next(read_jsonl(spec, path), None)  # a missing or unreadable file is reported now, before any work
        return lambda: (doc for _, doc in read_jsonl(spec, path))
    if kind == "text" and arg:
        root = Path(arg).expanduser()
        text_files(spec, root)  # a missing folder is reported now, before any work
        return lambda: (text_document(spec, root, rel) for rel in text_files(spec, root))
    if kind == "hf" and arg:
        return lambda: _hf(spec, arg, log)
    raise CorpusError(f"unknown corpus {spec!r}: the valid forms are {FORMS}")


def _hf(spec: str, arg: str, log: Log) -> Iterator[Document]:
    name, _, config = arg.partition(":")
    advice = "use --corpus default, jsonl:PATH or text:DIR"
    # Streamed from the hub, or from local data files; from the local cache (memory-mapped Arrow) offline.
    offline = offline_mode()
    if not offline and not Path(name).exists() and not _hub_reachable():
        log("corpus: the Hugging Face hub is unreachable; reading the local Hugging Face cache only")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        offline = True
    try:
        import datasets
    except ImportError:
        raise CorpusError(f"corpus {spec}: the `datasets` package is not installed; {advice}") from None
    try:
        ds = datasets.load_dataset(name, config or None, split="train", streaming=not offline or Path(name).exists())
        columns = ds.column_names if ds.column_names is not None else list(next(iter(ds), {}))
    except Exception as e:  # noqa: BLE001 - any failure here means "not available", said in one line
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CorpusError(f"corpus {spec}: cannot load the Hugging Face dataset {name!r}: the Hugging Face hub is "
                          f"unreachable or has no such dataset ({reason}); {advice}") from None
    if "text" not in columns:
        raise CorpusError(f"corpus {spec}: the dataset has no \"text\" column (it has {', '.join(columns)}); {advice}")
    yield from hf_documents((row["text"] for row in ds.select_columns(["text"])), name, config)
