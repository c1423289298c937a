"""Text helpers shared by the parsers: cleaning, slugs, splitting long units, markup stripping."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser

from infoprune.documents import Document

# A unit longer than this is split; parts aim at ~35k characters, so each lands in ~20-50k.
MAX_CHARS = 50_000
TARGET_CHARS = 35_000


_TRAILING = re.compile(r"[ \t]+\n")
# Control characters other than tab and newline (bells, escapes, NULs) are not text; a form feed is a break.
_CONTROL = {c: None for c in [*range(0, 9), *range(11, 32), 127]} | {12: "\n"}
_HAS_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANKS = re.compile(r"\n{3,}")


def clean(text: str) -> str:
    """Plain-text normal form: LF line ends, no trailing spaces, at most one blank line in a row."""
    # The substring tests skip the regexes for the many texts that need nothing (they are slow on 100 MB).
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    if _HAS_CONTROL.search(text):
        text = text.translate(_CONTROL)
    text += "\n"
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANKS.sub("\n\n", text)
    return text.strip("\n").rstrip()


def slug(name: str) -> str:
    """A lowercase id component: runs of anything but letters and digits become one dash."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


def _pieces(text: str, limit: int) -> list[tuple[str, str]]:
    """Cut text into (piece, separator-after) pairs, no piece longer than `limit`, at the coarsest
    boundary that fits: paragraphs, else lines (a code listing, verse without stanza breaks), else characters."""
    out = []
    for para in re.split(r"\n\n+", text):
        if len(para) <= limit:
            out.append((para, "\n\n"))
            continue
        for line in para.split("\n"):
            chunks = [line[i : i + limit] for i in range(0, max(len(line), 1), limit)]
            out.extend((chunk, "") for chunk in chunks[:-1])
            out.append((chunks[-1], "\n"))
        out[-1] = (out[-1][0], "\n\n")
    return out


def split_long(text: str, max_chars: int = MAX_CHARS, target: int = TARGET_CHARS) -> list[str]:
    """Split text over `max_chars` at paragraph boundaries into parts of roughly equal size."""
    if len(text) <= max_chars:
        return [text]
    goal = len(text) / math.ceil(len(text) / target)
    parts: list[str] = []
    cur: list[str] = []
    size = 0
    for piece, sep in _pieces(text, max_chars - int(goal)):
        cur += [piece, sep]
        size += len(piece) + len(sep)
        if size >= goal:
            parts.append("".join(cur[:-1]))
            cur, size = [], 0
    if cur:
        tail = "".join(cur[:-1])
        # A short remainder reads better glued to the previous part when that stays under the cap.
        if parts and len(tail) < goal / 2 and len(parts[-1]) + len(tail) + 2 <= max_chars:
            parts[-1] += "\n\n" + tail
        else:
            parts.append(tail)
    return parts


def work_documents(source: str, work: str, units: Iterable[str]) -> Iterator[Document]:
    """Number a work's units in their natural order: `{source}/{work}/{index:04d}`.

    Units are cleaned and long ones split into parts, each part taking the next index. Blank
    units still take an index (and are yielded, so the loader can count them) so that the ids of
    the other units never depend on what happened to be blank.
    """
    index = 0
    for unit in units:
        for part in split_long(clean(unit)):
            yield Document(id=f"{source}/{work}/{index:04d}", source=source, text=part)
            index += 1


def strip_gutenberg(text: str) -> str:
    """Drop a Project Gutenberg header and footer when the `*** START/END OF` markers are there."""
    start = re.search(r"^\*\*\*\s*START OF.*$", text, re.M | re.I)
    if start:
        text = text[start.end() :]
    end = re.search(r"^\*\*\*\s*END OF.*$|^End of (the )?Project Gutenberg", text, re.M | re.I)
    if end:
        text = text[: end.start()]
    return text


# --- reStructuredText -> prose -------------------------------------------------------------

# Directives whose whole indented block is navigation or machinery, not prose.
_DROP_DIRECTIVES = {
    "toctree", "index", "highlight", "sectionauthor", "moduleauthor", "only", "raw", "include",
    "literalinclude", "image", "figure", "kernel-doc", "kernel-abi", "kernel-feat", "tabularcolumns",
    "contents", "cssclass", "rst-class", "csv-table", "productionlist", "testsetup", "testcleanup",
    "audit-event-table", "miscnews", "program", "currentmodule", "default-role", "role", "c:namespace",
    "c:namespace-push", "c:namespace-pop", "meta", "spelling", "uml", "kernel-include", "kfigure",
    "kernel-figure", "kernel-render", "kernel-cmd",
}
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:.-]+)::\s*(.*)$")
_UNDERLINE = re.compile(r"^\s*([=\-~^\"'`#*+:_<>])\1{2,}\s*$")  # not ".": a line of "..." is doctest output
_OPTION = re.compile(r"^\s*:[\w -]+:(\s.*)?$")
_TABLE_RULE = re.compile(r"^\s*\+[-=+:]+\+\s*$|^\s*=+( +=+)+\s*$")  # grid and simple table borders
_ROLE = re.compile(r":[\w:.+-]+:`([^`]*)`")
_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`_{1,2}")


def _role_text(m: re.Match) -> str:
    inner = m.group(1)
    # :ref:`Title <label>` shows the title; :func:`~os.path.join` shows `join`; `!x` shows x.
    title = re.match(r"(.*?)\s*<[^<>]*>$", inner, re.S)
    if title and title.group(1):
        return title.group(1)
    inner = inner.lstrip("!")
    return inner.rsplit(".", 1)[-1] if inner.startswith("~") else inner


def rst_to_text(src: str) -> str:
    """Reduce reStructuredText to readable prose: keep headings, paragraphs and literal blocks,
    drop heading underlines, comments, link targets and navigation directives, unwrap roles."""
    out: list[str] = []
    lines = src.replace("\t", "    ").split("\n")
    skip_indent: int | None = None  # inside a dropped block: skip lines indented deeper than this
    in_directive_options = False
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if not stripped or indent > skip_indent:
                continue
            skip_indent = None
        if in_directive_options:
            if _OPTION.match(line):
                continue
            in_directive_options = False
        m = _DIRECTIVE.match(line)
        if m:
            name, arg = m.group(2).lower(), m.group(3).strip()
            if name in _DROP_DIRECTIVES or name.endswith(":autosummary"):
                skip_indent = indent
            else:
                in_directive_options = True
                if name in {"note", "warning", "seealso", "important", "tip", "caution", "attention", "hint", "danger", "error"}:
                    out.append(f"{m.group(1)}{name.capitalize()}: {arg}".rstrip())
                elif name in {"versionadded", "versionchanged", "deprecated"}:
                    label = {"versionadded": "New in version", "versionchanged": "Changed in version", "deprecated": "Deprecated since version"}[name]
                    out.append(f"{m.group(1)}{label} {arg}".rstrip())
                elif arg and name not in {"code-block", "code", "sourcecode", "doctest", "testcode", "testoutput"}:
                    out.append(m.group(1) + arg)
                else:
                    out.append("")
            continue
        if stripped.startswith(".. ") or stripped == "..":
            # A comment, a link target (.. _label:) or a substitution definition: not prose.
            skip_indent = indent
            continue
        if _UNDERLINE.match(line) or _TABLE_RULE.match(line):
            if out and out[-1].strip():
                out[-1] = out[-1].strip()  # a heading between overline and underline may be indented
            continue
        if stripped == "::":
            out.append("")
            continue
        out.append(line[:-1] if line.endswith("::") else line)
    # Inline markup may wrap across lines, so it is undone on the whole text.
    text = "\n".join(out)
    text = _LINK.sub(r"\1", text)
    text = _ROLE.sub(_role_text, text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"(?<![\w*])\*\*([^\s*](?:[^*]*[^\s*])?)\*\*(?!\w)", r"\1", text)
    text = re.sub(r"(?<![\w*`\\])\*([^\s*](?:[^*\n]*[^\s*\\])?)\*(?![\w*])", r"\1", text)
    text = re.sub(r"`([^`\n]+)`_{0,2}", r"\1", text)
    text = re.sub(r" ?\[(?:#\w*|\d+|\*)\]_", "", text)  # footnote references
    text = re.sub(r"\\([*`_|])", r"\1", text.replace("\\ ", ""))  # backslash escapes of markup characters
    return clean(text)


# --- HTML -> text -------------------------------------------------------------------------

_BLOCK = {
    "p", "div", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl",
    "dt", "dd", "table", "tr", "blockquote", "pre", "figure", "figcaption", "header", "footer",
    "hr", "body", "caption",
}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _TextExtractor(HTMLParser):
    def __init__(self, skip_tags: set[str], skip_classes: set[str], skip_ids: set[str]):
        super().__init__(convert_charrefs=True)
        self.skip_tags, self.skip_classes, self.skip_ids = skip_tags, skip_classes, skip_ids
        self.out: list[str] = []
        self.stack: list[str] = []
        self.skip_depth: int | None = None  # stack depth of the element being skipped
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            if tag in ("br", "hr") and self.skip_depth is None:
                self.out.append("\n")
            return
        self.stack.append(tag)
        if self.skip_depth is not None:
            return
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        if tag in self.skip_tags or classes & self.skip_classes or attrs.get("id") in self.skip_ids:
            self.skip_depth = len(self.stack)
            return
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if tag in _VOID or tag not in self.stack:
            return
        # Tolerate unclosed children: pop up to the matching open tag.
        while self.stack:
            top = self.stack.pop()
            if self.skip_depth is not None and len(self.stack) < self.skip_depth:
                self.skip_depth = None
                if top == tag:
                    return
                continue
            if self.skip_depth is None:
                if top == "pre":
                    self.pre = max(0, self.pre - 1)
                if top in _BLOCK:
                    self.out.append("\n\n")
            if top == tag:
                return

    def handle_data(self, data):
        if self.skip_depth is not None:
            return
        if self.pre:
            self.out.append(data)
            return
        data = re.sub(r"\s+", " ", data)
        if not self.out or self.out[-1].endswith("\n"):
            data = data.lstrip()
        self.out.append(data)


def html_to_text(src: str, skip_tags=("script", "style", "nav", "head", "noscript"), skip_classes=(), skip_ids=()) -> str:
    """Visible text of an HTML page; elements named in skip_tags, having a class in skip_classes
    or an id in skip_ids are dropped with everything inside them."""
    parser = _TextExtractor(set(skip_tags), set(skip_classes), set(skip_ids))
    parser.feed(src)
    parser.close()
    return clean("".join(parser.out))
