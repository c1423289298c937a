"""debian-handbook: The Debian Administrator's Handbook, English edition (Debian `debian-handbook`), Publican-generated HTML pages."""

from __future__ import annotations

from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import html_to_text, slug, work_documents

# Page furniture repeated on every page (banner, prev/next bars, the chapter tables of contents).
_SKIP_TAGS = ("script", "style", "nav", "head", "noscript")
_SKIP_CLASSES = ("docnav", "toc", "list-of-figures", "list-of-tables", "list-of-examples", "navheader", "navfooter")
_SKIP_IDS = ("banner", "title")


@source("debian-handbook", packages=["debian-handbook"], version="1", license="GPL-2+ or CC-BY-SA-3.0",
        description="The Debian Administrator's Handbook (English), one document per HTML page")
def parse(root: Path):
    folder = root / "usr/share/doc/debian-handbook/html/en-US"
    for path in sorted(folder.glob("*.html")):
        text = html_to_text(path.read_text("utf-8"), skip_tags=_SKIP_TAGS, skip_classes=_SKIP_CLASSES, skip_ids=_SKIP_IDS)
        yield from work_documents("debian-handbook", slug(path.stem), [text])
