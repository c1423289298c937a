"""load_corpus: resolve a corpus spec, and for the default corpus fetch, parse and cache each source once."""

from __future__ import annotations

import contextlib
import datetime
import gzip
import hashlib
import inspect
import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from infoprune.atomic import atomic_write_bytes
from infoprune.documents import Corpus, Document
from infoprune.hub import hub_reachable, offline_mode
from infoprune.sources import _fetch
from infoprune.sources._files import hf_documents, read_jsonl, text_document, text_files
from infoprune.registry import did_you_mean
from infoprune.sources._registry import CorpusError, SourceSpec, get_source, source_names

Log = Callable[[str], None]
FORMS = "default, default:NAME[,NAME...], jsonl:PATH, text:DIR or hf:NAME[:CONFIG]"
ADVICE = "use --corpus jsonl:PATH or text:DIR to train on local files instead"


def load_corpus(spec: str, data_dir: Path, log: Log = print) -> Corpus:
    """Load the corpus named by `spec` (see FORMS); the default corpus is cached under data_dir."""
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if kind == "default":
        return _load_default(spec, arg, Path(data_dir).expanduser(), log)
    if kind == "jsonl" and arg:
        return _load_jsonl(spec, Path(arg).expanduser(), log)
    if kind == "text" and arg:
        return _load_text(spec, Path(arg).expanduser(), log)
    if kind == "hf" and arg:
        return _load_hf(spec, arg, log)
    raise CorpusError(f"unknown corpus {spec!r}: the valid forms are {FORMS}")


# --- shared -------------------------------------------------------------------------------


def _keep_nonblank(docs: Iterable[Document], stats: dict[str, dict]) -> list[Document]:
    """Drop empty and whitespace-only documents, counting them per source in `stats`."""
    kept = []
    for doc in docs:
        entry = stats.setdefault(doc.source, {"n_documents": 0, "n_bytes": 0, "dropped_blank": 0})
        if doc.text.strip():
            kept.append(doc)
            entry["n_documents"] += 1
            entry["n_bytes"] += len(doc.text.encode("utf-8"))
        else:
            entry["dropped_blank"] += 1
    return kept


def _corpus(spec: str, docs: list[Document], sources: dict[str, dict], fingerprint: str) -> Corpus:
    if not docs:
        raise CorpusError(f"corpus {spec} has no non-blank documents; use another --corpus")
    dropped = sum(entry.get("dropped_blank", 0) for entry in sources.values())
    manifest = {"spec": spec, "sources": sources, "dropped_blank": dropped}
    return Corpus(spec=spec, documents=docs, manifest=manifest, fingerprint=fingerprint)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- local files ----------------------------------------------------------------------------


def _load_jsonl(spec: str, path: Path, log: Log) -> Corpus:
    start = time.monotonic()
    docs, ids = [], set()
    for line_no, doc in read_jsonl(spec, path):
        if doc.id in ids:
            raise CorpusError(f"corpus {spec}: {path} line {line_no} repeats the id {doc.id!r}; ids must be unique")
        ids.add(doc.id)
        docs.append(doc)
    stats: dict[str, dict] = {}
    docs = _keep_nonblank(docs, stats)
    for entry in stats.values():
        entry["path"] = str(path)
    n_bytes = sum(e["n_bytes"] for e in stats.values())
    log(f"corpus: {path}: {len(docs)} documents ({_mb(n_bytes)}) in {time.monotonic() - start:.1f}s")
    return _corpus(spec, docs, stats, _sha256(path.read_bytes()))


def _load_text(spec: str, root: Path, log: Log) -> Corpus:
    start = time.monotonic()
    files = text_files(spec, root)
    docs, h = [], hashlib.sha256()
    for rel in files:
        doc = text_document(spec, root, rel)
        h.update(json.dumps([rel, _sha256(doc.text.encode("utf-8"))]).encode())  # UTF-8 text: the file's bytes
        docs.append(doc)
    stats: dict[str, dict] = {}
    docs = _keep_nonblank(docs, stats)
    n_bytes = sum(e["n_bytes"] for e in stats.values())
    log(f"corpus: {root}: {len(docs)} documents from {len(files)} files ({_mb(n_bytes)}) in {time.monotonic() - start:.1f}s")
    return _corpus(spec, docs, stats, h.hexdigest())


def _load_hf(spec: str, arg: str, log: Log) -> Corpus:
    start = time.monotonic()
    name, _, config = arg.partition(":")
    advice = "use --corpus default, jsonl:PATH or text:DIR"
    if not _hub_reachable() and "datasets" not in sys.modules:
        # Without this, datasets retries for ~25 s before failing; offline it still finds a cached copy.
        log("corpus: the Hugging Face hub is unreachable; looking in the local Hugging Face cache only")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets  # imported here only: it is slow to import and only this form needs it
    except ImportError:
        raise CorpusError(f"corpus {spec}: the `datasets` package is not installed; {advice}") from None
    try:
        ds = datasets.load_dataset(name, config or None, split="train")
    except Exception as e:  # noqa: BLE001 - any failure here means "not available", said in one line
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CorpusError(f"corpus {spec}: cannot load the Hugging Face dataset {name!r}: the Hugging Face hub is unreachable or has no such dataset ({reason}); {advice}") from None
    if "text" not in (ds.column_names or []):
        raise CorpusError(f"corpus {spec}: the dataset has no \"text\" column (it has {', '.join(ds.column_names or [])}); {advice}")
    h = hashlib.sha256()
    docs = []
    for doc in hf_documents(ds["text"], name, config):
        h.update(_sha256(doc.text.encode("utf-8")).encode())
        docs.append(doc)
    stats: dict[str, dict] = {}
    docs = _keep_nonblank(docs, stats)
    n_bytes = sum(e["n_bytes"] for e in stats.values())
    log(f"corpus: hf {arg}: {len(docs)} documents ({_mb(n_bytes)}) in {time.monotonic() - start:.1f}s")
    return _corpus(spec, docs, stats, h.hexdigest())


def _hub_reachable(timeout: float = 3.0) -> bool:
    """True in offline mode too: then there is nothing to probe, and datasets looks in its local cache."""
    return offline_mode() or hub_reachable(timeout)


# --- the default corpus -----------------------------------------------------------------------


def _resolve(arg: str) -> list[str]:
    available = source_names()
    if not arg:
        return available
    names = sorted({n.strip() for n in arg.split(",") if n.strip()})
    if not names:
        raise CorpusError(f"corpus default:{arg}: no source named; the sources are {', '.join(available)}")
    for name in names:
        if name not in available:
            raise CorpusError(f"unknown source {name!r} in corpus default:{arg}; the sources are "
                              f"{', '.join(available)}.{did_you_mean(name, available)}")
    return names


def _load_default(spec: str, arg: str, data_dir: Path, log: Log) -> Corpus:
    names = _resolve(arg)
    corpus_dir = data_dir / "corpus"
    try:
        corpus_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CorpusError(f"corpus {spec}: cannot create the cache folder {corpus_dir} ({e.strerror or e}); give a writable data directory") from None
    loaded: dict[str, tuple[list[Document], dict]] = {}
    for name in names:
        start = time.monotonic()
        cached = _read_cache(get_source(name), corpus_dir, log)
        if cached is not None:
            loaded[name] = cached
            log(f"corpus: {name}: {len(cached[0])} documents ({_mb(cached[1]['n_bytes'])}) from cache in {time.monotonic() - start:.1f}s")
    missing = [get_source(name) for name in names if name not in loaded]
    if missing:
        loaded.update(_build_all(missing, data_dir, log))
    docs = [doc for name in names for doc in loaded[name][0]]
    entries = {name: loaded[name][1] for name in names}
    fingerprint = _sha256(json.dumps([[n, entries[n]["sha256"]] for n in names]).encode())
    return _corpus(spec, docs, entries, fingerprint)


def _remove_stale(tmp: Path, max_age: float = 86_400) -> None:
    """Remove download folders a killed process left behind (a live fetch is never a day old)."""
    if tmp.is_dir():
        for path in tmp.iterdir():
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > max_age:
                    shutil.rmtree(path, ignore_errors=True)


def _fetch_into(fetcher: _fetch.Fetcher, spec: SourceSpec, data_dir: Path) -> tuple[Path, list[dict], float]:
    """Fetch into a fresh temporary folder under data_dir/tmp; nothing is left behind on failure."""
    (data_dir / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=data_dir / "tmp"))
    start = time.monotonic()
    try:
        return work, fetcher.fetch(spec, work), time.monotonic() - start
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _build_all(specs: list[SourceSpec], data_dir: Path, log: Log) -> dict[str, tuple[list[Document], dict]]:
    """Build each source's cache. Fetching (network and dpkg-deb: waiting, not computing) runs in a
    helper thread one source ahead of parsing, so at most two unpacked packages are on disk at once."""
    _remove_stale(data_dir / "tmp")
    fetcher = _fetch.Fetcher(data_dir)
    built: dict[str, tuple[list[Document], dict]] = {}
    futures: list[Future] = []
    consumed: set[int] = set()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="corpus-fetch") as pool:
        try:
            futures.append(pool.submit(_fetch_into, fetcher, specs[0], data_dir))
            for i, spec in enumerate(specs):
                if i + 1 < len(specs):
                    futures.append(pool.submit(_fetch_into, fetcher, specs[i + 1], data_dir))
                consumed.add(i)
                work, packages, fetch_seconds = futures[i].result()
                try:
                    built[spec.name] = _build(spec, data_dir, work, packages, fetch_seconds, log)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        finally:
            # On failure, stop the fetch running ahead and remove whatever it unpacked.
            pool.shutdown(wait=True, cancel_futures=True)
            for i, future in enumerate(futures):
                if i not in consumed and not future.cancelled() and future.exception() is None:
                    shutil.rmtree(future.result()[0], ignore_errors=True)
    return built


def _read_manifest(corpus_dir: Path) -> dict:
    try:
        manifest = json.loads((corpus_dir / "manifest.json").read_text("utf-8"))
        if isinstance(manifest, dict) and isinstance(manifest.get("sources"), dict):
            return manifest
    except (OSError, ValueError):
        pass
    return {"format": 1, "sources": {}}


def _code_hash(spec: SourceSpec) -> str:
    """sha256 of the parser's module and the shared text helpers: what the cached text depends on."""
    h = hashlib.sha256()
    for path in (inspect.getsourcefile(spec.parse), Path(__file__).with_name("_text.py")):
        with contextlib.suppress(OSError, TypeError):
            h.update(Path(path).read_bytes())
    return h.hexdigest()


def _read_cache(spec: SourceSpec, corpus_dir: Path, log: Log, quiet: bool = False) -> tuple[list[Document], dict] | None:
    """The cached documents of `spec` if the cache file is there and matches the manifest."""
    entry = _read_manifest(corpus_dir)["sources"].get(spec.name)
    path = corpus_dir / spec.cache_name
    if not entry or entry.get("version") != spec.version or entry.get("file") != path.name:
        return None
    if entry.get("code") != _code_hash(spec):
        # The parser changed without a version bump: rebuild (identical output keeps the same sha256).
        if not quiet:
            log(f"corpus: {spec.name}: the parser code changed since the cache was built; rebuilding")
        return None
    try:
        data = path.read_bytes()  # hash and parse the same bytes, so a concurrent replace cannot slip in between
    except OSError:
        return None
    problem = None
    if not entry.get("sha256"):
        problem = "has no sha256 in manifest.json (written before cache entries carried one)"
    elif _sha256(data) != entry.get("sha256"):
        problem = "does not match the sha256 in manifest.json"
    else:
        try:
            lines = gzip.decompress(data).decode("utf-8").split("\n")
            docs = [Document(**json.loads(line)) for line in lines if line]
            if len(docs) != entry.get("n_documents"):
                problem = f"holds {len(docs)} documents, not {entry.get('n_documents')}"
        except (OSError, EOFError, ValueError, TypeError) as e:
            problem = f"is unreadable ({type(e).__name__})"
    if problem:
        if not quiet:
            log(f"warning: corpus cache {path} {problem}; rebuilding {spec.name}")
        return None
    return docs, entry


def _encode(docs: list[Document]) -> bytes:
    """The cache file: gzip'd JSON lines, byte-identical for identical documents (no mtime, no name)."""
    text = "".join(json.dumps({"id": d.id, "source": d.source, "text": d.text}, ensure_ascii=False) + "\n" for d in docs)
    buf = io.BytesIO()
    # Level 1: the file is a local cache, and level 6 is 3x slower for 15% less disk.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1, mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def _parse(spec: SourceSpec, root: Path) -> tuple[list[Document], int]:
    docs, seen, dropped = [], set(), 0
    try:
        for doc in spec.parse(root):
            if doc.source != spec.name:
                raise CorpusError(f"source {spec.name}: parser yielded a document of source {doc.source!r}")
            if doc.id in seen:
                raise CorpusError(f"source {spec.name}: parser yielded the id {doc.id!r} twice")
            seen.add(doc.id)
            if doc.text.strip():
                docs.append(doc)
            else:
                dropped += 1
    except CorpusError:
        raise
    except Exception as e:  # noqa: BLE001 - a package whose layout changed: say so in one line
        raise CorpusError(f"source {spec.name}: cannot parse the package ({type(e).__name__}: {e}); {ADVICE}") from e
    if not docs:
        raise CorpusError(f"source {spec.name}: found no documents in the package (has its layout changed?); {ADVICE}")
    return docs, dropped


def _build(spec: SourceSpec, data_dir: Path, work: Path, packages: list[dict], fetch_seconds: float, log: Log) -> tuple[list[Document], dict]:
    corpus_dir = data_dir / "corpus"
    # One builder per source at a time; whoever waited re-checks, since the other may have built it.
    with _fetch.file_lock(corpus_dir / ".lock"):
        cached = _read_cache(spec, corpus_dir, log, quiet=True)
        if cached is not None:
            log(f"corpus: {spec.name}: built meanwhile by another process; {len(cached[0])} documents from cache")
            return cached
        start = time.monotonic()
        docs, dropped = _parse(spec, work / "root")
        parse_seconds = time.monotonic() - start
        data = _encode(docs)
        entry = {
            "version": spec.version,
            "code": _code_hash(spec),
            "file": spec.cache_name,
            "sha256": _sha256(data),
            "n_documents": len(docs),
            "n_bytes": sum(len(d.text.encode("utf-8")) for d in docs),
            "dropped_blank": dropped,
            "license": spec.license,
            "description": spec.description,
            "packages": packages,
            "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "parse_seconds": round(parse_seconds, 2),
        }
        atomic_write_bytes(corpus_dir / spec.cache_name, data)
        manifest = _read_manifest(corpus_dir)
        manifest["sources"][spec.name] = entry
        atomic_write_bytes(corpus_dir / "manifest.json", (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    pkgs = ", ".join(f"{p['name']} {p['version']}" for p in packages)
    log(f"corpus: {spec.name}: fetched {pkgs} in {fetch_seconds:.1f}s; parsed {len(docs)} documents "
        f"({_mb(entry['n_bytes'])}, {dropped} blank dropped) in {parse_seconds:.1f}s")
    return docs, entry
