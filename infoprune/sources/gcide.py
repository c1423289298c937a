"""gcide: the Collaborative International Dictionary of English, i.e. Webster's 1913 (Debian `dict-gcide`), a dictd database:
`gcide.dict.dz` (gzip-compatible) indexed by `gcide.index` lines of word, base64 offset, base64 length."""

from __future__ import annotations

import gzip
import re
import unicodedata
from pathlib import Path

from infoprune.sources import source
from infoprune.sources._text import work_documents

# dictd's base64 digits (most significant first), not RFC 4648 padding-style base64.
_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def b64_number(digits: str) -> int:
    n = 0
    for c in digits:
        n = n * 64 + _B64[c]
    return n


# GCIDE spells non-ASCII letters as bracketed codes: [=a] (macron), ['e] (acute), [ae], [deg]...
_NAMED = {
    "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "eth": "ð", "ng": "ŋ", "deg": "°", "pounds": "£",
    "thorn": "þ", "sect": "§", "root": "√", "yogh": "ȝ", "imac": "ī", "para": "¶", "nbsp": " ", "flat": "♭",
    "sharp": "♯", "hand": "☞", "rarr": "→", "min": "′", "sec": "″", "bar": "|", "aum": "ä", "asl": "a",
    "add": "a", "udd": "u", "dsdot": "d", "Delta": "Δ",
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
    "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ",
    "sigma": "σ", "tau": "τ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
}
_MARK = {"=": "\u0304", "'": "\u0301", "`": "\u0300", '"': "\u0308", "~": "\u0303", ",": "\u0327", "*": "\u030a"}
# Ambiguous breve/dot/circumflex-like marks ([a^], [^a], [-e], [.a]) are pronunciation detail: keep the letter.
_CODE = re.compile(r"\[(?:([=\-'`\"~.^*,])([A-Za-z]{1,2})|([A-Za-z]{1,2})\^|(%s))\]" % "|".join(_NAMED))
# Provenance tags such as [1913 Webster] or [WordNet 1.5 +PJC] say where a sense came from.
_SOURCE_TAG = re.compile(r"[ \t]*\[[^\]\n]*(?:Webster|WordNet|PJC|Century|RDH|RHUD|MW10|MI11)[^\]\n]*\]")


def _letter(m: re.Match) -> str:
    mark, letters, hat, name = m.groups()
    if name:
        return _NAMED[name]
    if hat:
        return hat
    if mark in _MARK and len(letters) == 1:
        return unicodedata.normalize("NFC", letters + _MARK[mark])
    return letters


def entry_text(raw: str) -> str:
    """`headword: definition` with the dict markup removed."""
    text = _SOURCE_TAG.sub("", raw.strip("\n"))
    text = _CODE.sub(_letter, text)
    text = re.sub(r"\{([^{}]*)\}", r"\1", text)  # {cross-reference}
    lines = text.strip().split("\n")
    # First line: `Head \Head"word\, Var \Var\ (pron.), n. [etym.]` -> `Head: Var, n. [etym.]`;
    # backslashes delimit the syllabified spelling, the parentheses right after it the pronunciation.
    head = lines[0].split(" \\", 1)[0]
    first = re.sub(r"\s*\\[^\\]*\\(\s*\([^()]*\))?", "", lines[0])
    if head != lines[0] and first.startswith(head):
        lines[0] = head + ": " + first[len(head) :].lstrip(", ")
    text = "\n".join(line[3:] if line.startswith("   ") else line for line in lines)
    return re.sub(r"\\([^\\\n]*)\\", r"\1", text)  # headwords of later senses


@source("gcide", packages=["dict-gcide"], version="1", license="GPL-2+ (GCIDE; the 1913 Webster text itself is public domain)",
        description="Webster's Revised Unabridged Dictionary (1913) via GCIDE: one document per dictionary entry")
def parse(root: Path):
    folder = root / "usr/share/dictd"
    data = gzip.decompress((folder / "gcide.dict.dz").read_bytes())  # dictzip is gzip with a seek table
    # Many index words point at the same entry: an entry is one (offset, length) span.
    spans: set[tuple[int, int]] = set()
    for line in (folder / "gcide.index").read_text("utf-8").splitlines():
        word, offset, length = line.split("\t")[:3]
        if word.startswith("00-"):  # 00-database-* meta entries describe the database, not words
            continue
        spans.add((b64_number(offset), b64_number(length)))
    by_letter: dict[str, list[str]] = {}
    for offset, length in sorted(spans):
        raw = data[offset : offset + length]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")  # three entries carry stray Windows quotes
        text = entry_text(text)
        # The work is the entry's own initial (the first index word may be a phrase from its body).
        letter = text[:1].lower() if text[:1].isascii() and text[:1].isalpha() else "0"
        by_letter.setdefault(letter, []).append(text)
    for letter in sorted(by_letter):
        yield from work_documents("gcide", letter, by_letter[letter])
