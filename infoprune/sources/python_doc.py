"""python-doc: the Python 3.11 documentation (Debian `python3.11-doc`), the reStructuredText sources Sphinx ships as `_sources/**/*.rst.txt`."""

from __future__ import annotations

from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import rst_to_text, slug, work_documents


@source("python-doc", packages=["python3.11-doc"], version="1", license="PSF-2.0",
        description="The Python 3.11 documentation: tutorial, library and language reference, HOWTOs; one document per page")
def parse(root: Path):
    folder = root / "usr/share/doc/python3.11/html/_sources"
    paths = sorted(folder.rglob("*.rst.txt"), key=lambda p: p.relative_to(folder).as_posix())
    for path in paths:
        rel = path.relative_to(folder).as_posix().removesuffix(".rst.txt")
        yield from work_documents("python-doc", slug(rel), [rst_to_text(path.read_text("utf-8"))])
