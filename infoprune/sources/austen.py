"""austen: Jane Austen's six novels (Debian `r-cran-janeaustenr`), character vectors of lines in an R lazy-load database
(`data/Rdata.rdx`, a gzip'd serialized index of offsets into `data/Rdata.rdb`, whose records are a 4-byte big-endian
length followed by a zlib stream of one serialized R object)."""

from __future__ import annotations

import gzip
import re
import struct
import warnings
import zlib
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import work_documents

_CHAPTER = re.compile(r"^\s*chapter\s+([ivxlc]+|\d+)\.?\s*$", re.I)
_VOLUME = re.compile(r"^\s*volume\s+([ivxlc]+|\d+)\.?\s*$", re.I)


def _unserialize(data: bytes):
    import rdata  # only this parser needs it, and it pulls in numpy and xarray

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns that a bare serialization "is assumed RDS": it is
        return rdata.conversion.convert(rdata.parser.parse_data(data))


def chapters(lines: list[str]) -> list[str]:
    """Split a novel's lines at its chapter headings; the title page goes with chapter one."""
    out: list[list[str]] = [[]]
    for line in lines:
        if _VOLUME.match(line):  # "VOLUME II" only groups chapters; the chapter headings carry the structure
            continue
        if _CHAPTER.match(line) and any(_CHAPTER.match(x) for x in out[-1]):
            out.append([])
        out[-1].append(line)
    return ["\n".join(chapter) for chapter in out]


@source("austen", packages=["r-cran-janeaustenr"], version="1", license="public domain texts; MIT (janeaustenr package)",
        description="Jane Austen's six published novels, one document per chapter")
def parse(root: Path):
    data_dir = root / "usr/lib/R/site-library/janeaustenr/data"
    index = _unserialize(gzip.decompress((data_dir / "Rdata.rdx").read_bytes()))
    rdb = (data_dir / "Rdata.rdb").read_bytes()
    # Each novel is one variable named by its slug (emma, persuasion, ...): the slug is the work id.
    for name, (offset, length) in sorted(index["variables"].items()):
        record = rdb[int(offset) : int(offset) + int(length)]
        (size,) = struct.unpack(">I", record[:4])
        raw = zlib.decompress(record[4:])
        if len(raw) != size:
            raise ValueError(f"{name}: record decompresses to {len(raw)} bytes, header says {size}")
        lines = [str(line) for line in _unserialize(raw)]
        yield from work_documents("austen", str(name), chapters(lines))
