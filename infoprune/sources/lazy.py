"""Corpora read lazily, one document at a time, for `infoprune/stream.py` (corpora larger than memory).

Ids, validation and messages are those of `_load.py`, so a document gets the id (and so the hash band) it
gets when the corpus is loaded into memory. A jsonl file is read line by line rather than through
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
from infoprune.sources._load import FORMS, _decode, _hub_reachable, _resolve, jsonl_document, load_corpus
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
        if not root.is_dir():
            raise CorpusError(f"corpus {spec}: {root} is not a directory; give a folder of .txt/.md files")
        return lambda: _text(spec, root)
    if kind == "hf" and arg:
        return lambda: _hf(spec, arg, log)
    raise CorpusError(f"unknown corpus {spec!r}: the valid forms are {FORMS}")


def read_jsonl(spec: str, path: Path) -> Iterator[tuple[int, Document]]:
    """(line number, document) for each non-empty line: one line in memory at a time."""
    try:
        f = path.open("rb")
    except OSError as e:
        raise CorpusError(f"corpus {spec}: cannot read {path} ({e.strerror or e}); give an existing JSON-lines file") from None
    offset = 0
    with f:
        for line_no, raw in enumerate(f, start=1):
            if b"\x00" in raw:
                raise CorpusError(f"corpus {spec}: {path} is binary, not text (a NUL byte at byte {offset + raw.index(0)}); "
                                  "give UTF-8 text (UTF-16 must be re-encoded as UTF-8)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CorpusError(f"corpus {spec}: {path} is not valid UTF-8 (byte {offset + e.start}); re-encode it as UTF-8") from None
            offset += len(raw)
            if not line.strip():
                continue
            yield line_no, jsonl_document(spec, path, line_no, line)


def _text(spec: str, root: Path) -> Iterator[Document]:
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in (".txt", ".md") and p.is_file())
    for rel in files:
        path = root / rel
        try:
            data = path.read_bytes()
        except OSError as e:
            raise CorpusError(f"corpus {spec}: cannot read {path} ({e.strerror or e})") from None
        source = rel.split("/", 1)[0] if "/" in rel else root.resolve().name
        yield Document(rel, source, _decode(path, data, spec))


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
    source, work = name.rsplit("/", 1)[-1], config or "train"
    for i, row in enumerate(ds.select_columns(["text"])):
        yield Document(f"{source}/{work}/{i:07d}", source, row["text"] or "")
