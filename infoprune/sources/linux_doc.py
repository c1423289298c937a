"""linux-doc: the Linux 6.1 kernel documentation (Debian `linux-doc-6.1`), gzipped reStructuredText files under `Documentation/`."""

from __future__ import annotations

import gzip
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import rst_to_text, slug, work_documents


@source("linux-doc", packages=["linux-doc-6.1"], version="1", license="GPL-2 (mostly; see the package copyright)",
        description="The Linux kernel documentation (English), one document per .rst file")
def parse(root: Path):
    folder = root / "usr/share/doc/linux-doc-6.1/Documentation"
    paths = sorted(folder.rglob("*.rst.gz"), key=lambda p: p.relative_to(folder).as_posix())
    for path in paths:
        rel = path.relative_to(folder).as_posix().removesuffix(".rst.gz")
        if rel.startswith("translations/"):  # the same documents again in other languages
            continue
        text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        yield from work_documents("linux-doc", slug(rel), [rst_to_text(text)])
