"""fortunes: the fortune-cookie collection (Debian `fortunes`), plain text files of items separated by `%` lines."""

from __future__ import annotations

import re
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import work_documents


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # a few old cookie files predate UTF-8


@source("fortunes", packages=["fortunes"], version="1", license="BSD (fortune-mod); quotations of various origin",
        description="fortune cookies: quotations, jokes and short poems")
def parse(root: Path):
    folder = root / "usr/share/games/fortunes"
    for path in sorted(folder.iterdir()):
        # .dat are strfile indexes and .u8 are symlinks to the text; the offensive set lives in off/, left out.
        if not path.is_file() or path.is_symlink() or path.suffix in (".dat", ".u8"):
            continue
        text = _decode(path.read_bytes())
        # Some cookies underline or bold with backspace overstrikes ("_\bx", "___\b\b\bword"): keep the last
        # character written at each place, which is the text.
        while "\x08" in text:
            text, n = re.subn(r"[^\x08\n]\x08", "", text)
            if not n:
                break
        items = re.split(r"^%[ \t]*$", text, flags=re.M)
        if items and not items[-1].strip():
            items.pop()  # what follows the closing "%" of the last cookie is not a cookie
        yield from work_documents("fortunes", path.name, items)
