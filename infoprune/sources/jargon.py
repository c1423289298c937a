"""jargon: the Jargon File 4.4.7 (Debian `jargon-text`), one gzipped text file whose glossary entries start with `:term:`."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import slug, work_documents

_ENTRY = re.compile(r"^ {0,3}:([^:\s][^:]*):(.*)$")
# The glossary is cut into letter sections: a lone letter indented two spaces, then a list of
# that section's terms; the appendices start with a centred "Part III." line (spaced with U+00A0). Both end an entry.
_SECTION = re.compile(r"^  \S\s*$|^\s+Part\s[IVX]+\.\s")


@source("jargon", packages=["jargon-text"], version="1", license="public domain",
        description="The Jargon File: the hacker lexicon, one document per entry")
def parse(root: Path):
    path = root / "usr/share/doc/jargon-text/jargon.txt.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    entries: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in lines:
        m = _ENTRY.match(line)
        if m:
            current = [f"{m.group(1)}:{m.group(2)}"]
            entries.append((m.group(1), current))
        elif _SECTION.match(line):
            current = None
        elif current is not None:
            current.append(line[3:] if line.startswith("   ") else line.lstrip())
    # {term} marks a cross-reference in this edition; the braces are markup, the term is prose.
    texts = [re.sub(r"\{([^{}]*)\}", r"\1", "\n".join(body)) for _, body in entries]
    # One work per initial letter keeps ids short and stable when entries are added elsewhere.
    by_letter: dict[str, list[str]] = {}
    for (term, _), text in zip(entries, texts):
        letter = term[0].lower() if term[0].isalpha() else "0"
        by_letter.setdefault(letter, []).append(text)
    for letter in sorted(by_letter):
        yield from work_documents("jargon", slug(letter), by_letter[letter])
