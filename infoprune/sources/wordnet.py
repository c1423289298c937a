"""wordnet: WordNet 3.0 synsets with their glosses (Debian `wordnet-base`), the `data.{noun,verb,adj,adv}` database files."""

from __future__ import annotations

import re
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import work_documents

POS = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}


def synset_text(line: str, pos: str) -> str:
    """`word, synonym (pos): gloss; "example"` from one data-file line.

    A line is: offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [pointer]... | gloss
    """
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    n_words = int(parts[3], 16)
    words = []
    for word in parts[4 : 4 + 2 * n_words : 2]:
        word = re.sub(r"\([a-z]+\)$", "", word)  # adjective position markers: (a), (p), (ip)
        word = word.replace("_", " ")
        if word not in words:
            words.append(word)
    return f"{', '.join(words)} ({POS[pos]}): {gloss.strip()}"


@source("wordnet", packages=["wordnet-base"], version="1", license="WordNet 3.0 license (permissive, Princeton University)",
        description="WordNet 3.0: one document per synset, its words and gloss with examples")
def parse(root: Path):
    folder = root / "usr/share/wordnet"
    for pos in POS:
        with open(folder / f"data.{pos}", encoding="utf-8") as f:
            # The license header lines start with two spaces; every synset line starts with its offset.
            units = [synset_text(line.rstrip("\n"), pos) for line in f if not line.startswith("  ")]
        yield from work_documents("wordnet", pos, units)
