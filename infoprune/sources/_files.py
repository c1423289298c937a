"""How a local or Hugging Face corpus becomes documents: each document's id, source and text, written once.

`_load.py` (a corpus in memory) and `lazy.py` (a corpus read one document at a time) both read through these,
so a document gets the same id, and hence the same hash band, whichever path reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from infoprune.documents import Document
from infoprune.sources._registry import CorpusError

TEXT_SUFFIXES = (".txt", ".md")


def decode(path: Path, data: bytes, spec: str, offset: int = 0) -> str:
    """UTF-8 text, or one clear error; `offset` is where `data` starts in the file, for the byte it names."""
    # A NUL byte is valid UTF-8 but never text: it marks a binary file, or UTF-16 text read as bytes.
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CorpusError(f"corpus {spec}: {path} is binary, not text (a NUL byte at byte {offset + nul}); "
                          "give UTF-8 text (UTF-16 must be re-encoded as UTF-8)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(f"corpus {spec}: {path} is not valid UTF-8 (byte {offset + e.start}); "
                          "re-encode it as UTF-8") from None


def read_jsonl(spec: str, path: Path) -> Iterator[tuple[int, Document]]:
    """(line number, document) for each non-blank line, one line in memory at a time."""
    try:
        f = path.open("rb")
    except OSError as e:
        raise CorpusError(f"corpus {spec}: cannot read {path} ({e.strerror or e}); give an existing JSON-lines file") from None
    offset = 0
    with f:
        for line_no, raw in enumerate(f, start=1):
            line = decode(path, raw, spec, offset)
            offset += len(raw)
            if line.strip():
                yield line_no, jsonl_document(spec, path, line_no, line)


def jsonl_document(spec: str, path: Path, line_no: int, line: str) -> Document:
    """The document on one non-blank line of a JSON-lines corpus: {"text": ..., "id"?: ..., "source"?: ...}."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise CorpusError(f"corpus {spec}: {path} line {line_no} is not valid JSON ({e.msg}); each line must be one JSON object with a \"text\" field") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise CorpusError(f"corpus {spec}: {path} line {line_no} is not a JSON object with a string \"text\" field")
    return Document(id=str(obj.get("id", f"{path.stem}/{line_no}")), source=str(obj.get("source", path.stem)),
                    text=obj["text"])


def text_files(spec: str, root: Path) -> list[str]:
    """The corpus's files, as paths relative to `root`, in a fixed order."""
    if not root.is_dir():
        raise CorpusError(f"corpus {spec}: {root} is not a directory; give a folder of .txt/.md files")
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file())


def text_document(spec: str, root: Path, rel: str) -> Document:
    """One file of a text corpus: its id is its relative path, its source the first folder (or the root's name)."""
    path = root / rel
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"corpus {spec}: cannot read {path} ({e.strerror or e})") from None
    source = rel.split("/", 1)[0] if "/" in rel else root.resolve().name
    return Document(rel, source, decode(path, data, spec))


def hf_documents(texts: Iterable[str | None], name: str, config: str) -> Iterator[Document]:
    """The documents of a Hugging Face dataset's text column, numbered in order within NAME/CONFIG."""
    source, work = name.rsplit("/", 1)[-1], config or "train"
    for i, text in enumerate(texts):
        yield Document(f"{source}/{work}/{i:07d}", source, text or "")
