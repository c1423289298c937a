"""bible: the World English Bible with Deuterocanon (Debian `sword-text-web`), a SWORD zText module: per testament a
`.bzv` verse index (block, offset, size) into zlib blocks of `.bzz` located by the `.bzs` block index; text is OSIS XML."""

from __future__ import annotations

import html
import re
import struct
import zlib
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import work_documents

# A book or chapter starts at a milestone-style start tag (sID); the matching eID tags only close it.
_MARKER = re.compile(r'<(?:chapter\b[^>]*\bosisID="([^"]+)"[^>]*\bsID=|div\b(?=[^>]*\btype="book")(?=[^>]*\bsID=))[^>]*>')


def read_testament(folder: Path, prefix: str) -> list[str]:
    """Every index entry of one testament, in canonical order, as OSIS text (empty for unused slots)."""
    bzs = (folder / f"{prefix}.bzs").read_bytes()
    bzz = (folder / f"{prefix}.bzz").read_bytes()
    bzv = (folder / f"{prefix}.bzv").read_bytes()
    blocks: dict[int, bytes] = {}
    entries = []
    for i in range(0, len(bzv) - 9, 10):
        block, offset, size = struct.unpack_from("<IIH", bzv, i)
        if size == 0:
            continue
        if block not in blocks:
            start, csize, usize = struct.unpack_from("<III", bzs, 12 * block)
            blocks[block] = zlib.decompress(bzz[start : start + csize])
        entry = blocks[block][offset : offset + size].decode("utf-8")
        entries.append(re.sub(r"<[^>]*$", "", entry))  # a few entries end in a cut-off tag ("...God. <d")
    return entries


def osis_to_text(osis: str) -> str:
    """Plain text of an OSIS fragment: notes dropped, paragraphs, titles and poetry lines kept as line breaks."""
    text = re.sub(r"<note\b.*?</note>", "\x00", osis, flags=re.S)  # footnotes and cross-references
    text = re.sub(r"<title\b[^>]*>|</title>", "\n\n", text)
    text = re.sub(r'<div\b(?=[^>]*\btype="x-p")(?=[^>]*\bsID=)[^>]*>|<lg\b[^>]*>|<lb\b[^>]*>|</?list\b[^>]*>', "\n\n", text)
    text = re.sub(r"<l\b(?=[^>]*\bsID=)[^>]*>|<item\b[^>]*>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]*>", "", text))
    # A note often sits between two words with no space around it ("Yahweh’s<note/>word"): keep them apart.
    text = re.sub(r"(?<=\S)\x00+(?=[\w“‘(])", " ", text).replace("\x00", "")
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r" ?\n ?", "\n", text).strip()


@source("bible", packages=["sword-text-web"], version="1", license="public domain",
        description="World English Bible with Deuterocanon, one document per chapter")
def parse(root: Path):
    folder = root / "usr/share/sword/modules/texts/ztext/engWEB2015eb"
    # Walk every entry in canonical order, cutting at book and chapter start markers; whatever comes
    # before a book's first chapter (its title, the translators' preface) opens that chapter.
    chapters: dict[str, list[str]] = {}  # "Gen.1" -> OSIS pieces
    current: list[str] | None = None
    pending: list[str] = []
    for entry in read_testament(folder, "ot") + read_testament(folder, "nt"):
        pos = 0
        for m in _MARKER.finditer(entry):
            (current if current is not None else pending).append(entry[pos : m.start()])
            pos = m.end()
            if m.group(1):  # a chapter
                current = chapters.setdefault(m.group(1), [])
                current += pending
                pending = []
            else:  # a book: its front matter waits for chapter one
                current = None
        (current if current is not None else pending).append(entry[pos:])
    by_book: dict[str, list[str]] = {}
    for key, pieces in chapters.items():
        by_book.setdefault(key.split(".")[0], []).append(osis_to_text(" ".join(pieces)))
    for book, texts in by_book.items():
        yield from work_documents("bible", book.lower(), texts)
