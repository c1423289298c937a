"""Prune a corpus larger than memory: read it lazily, score its pool in shards on disk, select from the shards.

`bench score` holds the corpus, every sample and every text at once. This path holds only the probe slice
(capped at the preset's probe_bytes) and one shard of pool documents at a time, plus a few numbers per pool
sample when selecting. It reads the corpus twice:

1. the split: every document gets its hash band from `samples.band`, as in the in-memory split; the probe
   slice (the hash-order prefix of the probe band up to probe_bytes) is kept, the pool band is counted;
2. the pool, in shards of `shard_docs` consecutive pool documents. Shard i is scored by rank i % world
   size and written to OUT/shards/shard-{i:05d}.parquet with a checksum. Its contents depend on the
   corpus alone, never on the world size, so any number of processes gives the same scores.

Then the main rank checks that every shard is there and whole, selects from the id and score columns
alone, and copies the kept texts to OUT/kept.jsonl one shard at a time. A shard already on disk that passes
its checksum is reused, so a killed run resumes. Only criteria with `per_sample = True` can stream: the
others score a sample against the rest of the pool, which no shard holds.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import criterion as registry
from .atomic import atomic_file, atomic_write_bytes, atomic_write_json, read_entry, write_checked
from .config import CriterionSpec, DataConfig, RunConfig, Seeds, stable_hash
from .criterion import ScoringContext
from .distributed import World
from .documents import Document
from .errors import UserError
from .probe import load_or_train_probe, probe_key
from .pooltable import INFO, info_frame, kept_line
from .progress import progress
from .samples import band, chunk, unit_hash
from .scoring import token_nll
from .select import MODES, check_ratio, check_scores, select
from .sources._registry import CorpusError
from .sources._files import read_jsonl
from .sources.lazy import open_corpus
from .tokenizer import eos_id, load_or_train

STREAM_VERSION = "1"  # part of the run key: bump when a shard's contents change for the same inputs
Log = Callable[[str], None]


# --- pass 1: the split -------------------------------------------------------------------------------


class Prefix:
    """samples._take_bytes without the whole band in memory: the documents in hash order until `budget` bytes.

    A document is taken when the bytes of the documents before it in hash order are under the budget. More
    documents only add to what comes before, so one that falls out never returns: keep a heap, evict its
    last member while the others already reach the budget. Memory: the budget plus one document.
    """

    def __init__(self, budget: int, salt: int) -> None:
        self.budget, self.salt, self.total = budget, salt, 0
        self.heap: list[tuple[tuple[float, int], int, object]] = []  # (negated order key, bytes, payload)

    def key(self, doc_id: str, seq: int) -> tuple[float, int]:
        return unit_hash(doc_id, self.salt + 1), seq  # ties go by corpus order, as sorted() leaves them

    def add(self, key: tuple[float, int], n_bytes: int, payload: object) -> None:
        heapq.heappush(self.heap, ((-key[0], -key[1]), n_bytes, payload))
        self.total += n_bytes
        while self.total - self.heap[0][1] >= self.budget:
            self.total -= heapq.heappop(self.heap)[1]

    def last(self) -> tuple[float, int] | None:
        """The order key of the last document taken; a document is in iff its key is not above it."""
        return (-self.heap[0][0][0], -self.heap[0][0][1]) if self.heap else None


@dataclass
class Scan:
    probe: list[Document]  # the probe slice, sorted by id as split_documents leaves it
    n_documents: int  # non-blank documents
    n_pool: int  # pool documents streamed in pass 2
    pool_last: tuple[float, int] | None  # with a pool_bytes cap: the last pool document's order key
    fingerprint: str


def scan(read: Callable[[], Iterator[Document]], spec: str, data: DataConfig, pool_bytes: int | None) -> Scan:
    probe = Prefix(data.probe_bytes, data.split_seed)
    pool = Prefix(pool_bytes, data.split_seed) if pool_bytes else None
    h, n_docs, n_pool = hashlib.sha256(), 0, 0
    hashes = array("d")  # 8 bytes a document: enough to find repeated ids without a set of every id
    for seq, doc in enumerate(read()):
        _fingerprint(h, doc)
        hashes.append(unit_hash(doc.id, data.split_seed))
        if not doc.text.strip():
            continue
        n_docs += 1
        part = band(doc, data)
        if part == "probe":
            probe.add(probe.key(doc.id, seq), len(doc.text.encode("utf-8")), doc)
        elif part == "pool":
            n_pool += 1
            if pool:
                pool.add(pool.key(doc.id, seq), len(doc.text.encode("utf-8")), None)
    if not n_docs:
        raise CorpusError(f"corpus {spec} has no non-blank documents; use another --corpus")
    _check_unique(read, spec, np.frombuffer(hashes, dtype=np.float64), data.split_seed)
    if pool:
        n_pool = len(pool.heap)
    for part, empty in (("probe", not probe.heap), ("pool", not n_pool)):
        if empty:
            raise UserError(f"corpus {spec!r} is too small: its {part} slice is empty ({n_docs} documents); "
                            "give it more documents")
    return Scan(sorted((d for _, _, d in probe.heap), key=lambda d: d.id), n_docs, n_pool,
                pool.last() if pool else None, h.hexdigest())


def _check_unique(read: Callable[[], Iterator[Document]], spec: str, hashes: np.ndarray, salt: int) -> None:
    """Raise on a repeated id. Equal hashes are only suspects: a second read compares the ids themselves."""
    s = np.sort(hashes)
    suspects = set(s[1:][s[1:] == s[:-1]].tolist())
    if not suspects:
        return
    kind, _, arg = spec.partition(":")
    seen: dict[str, int] = {}
    docs = read_jsonl(spec, Path(arg).expanduser()) if kind == "jsonl" else enumerate(read(), start=1)
    for where, doc in docs:
        if doc.id in seen:
            at = f"{Path(arg).expanduser()} line {where}" if kind == "jsonl" else f"document {where}"
            raise CorpusError(f"corpus {spec}: {at} repeats the id {doc.id!r}; ids must be unique")
        if unit_hash(doc.id, salt) in suspects:
            seen[doc.id] = where


def pool_documents(read: Callable[[], Iterator[Document]], spec: str, data: DataConfig, scanned: Scan) -> Iterator[Document]:
    """Pass 2: the pool documents, in corpus order; with a pool_bytes cap, those of the scan's hash-order prefix."""
    h, count = hashlib.sha256(), 0
    for seq, doc in enumerate(read()):
        _fingerprint(h, doc)
        if not (doc.text.strip() and band(doc, data) == "pool"):
            continue
        if scanned.pool_last is None or (unit_hash(doc.id, data.split_seed + 1), seq) <= scanned.pool_last:
            count += 1
            yield doc
    if h.hexdigest() != scanned.fingerprint or count != scanned.n_pool:
        raise UserError(f"corpus {spec} changed while it was being read; run again once it no longer changes")


def _fingerprint(h, doc: Document) -> None:
    h.update(json.dumps([doc.id, doc.source, len(doc.text)]).encode() + doc.text.encode("utf-8"))


# --- criteria ----------------------------------------------------------------------------------------


def streamable(specs: tuple[CriterionSpec, ...], all_requested: bool = False) -> tuple[CriterionSpec, ...]:
    """`specs` when every one scores a sample on its own; for `--criteria all`, its per-sample members."""
    per_sample = [n for n in registry.names() if registry.get(n).per_sample]
    if all_requested:
        return tuple(s for s in specs if s.name in per_sample)
    pooled = [s.label for s in specs if s.name not in per_sample]
    if pooled:
        raise UserError(f"{', '.join(pooled)} {'scores' if len(pooled) == 1 else 'score'} a sample against the "
                        "whole pool, which a streamed corpus never holds at once; use 'bench score' (in memory) "
                        f"instead, or only per-sample criteria here: {', '.join(per_sample)}")
    return specs


# --- shards ------------------------------------------------------------------------------------------


def shard_path(out: Path, i: int) -> Path:
    return Path(out) / "shards" / f"shard-{i:05d}.parquet"


def marker_path(out: Path, rank: int, size: int) -> Path:
    return Path(out) / "shards" / f"rank-{rank}-of-{size}.json"


def score_shard(docs: list[Document], tok, nll, cfg: RunConfig, specs: tuple[CriterionSpec, ...], seed: int) -> pd.DataFrame:
    """One shard's samples with their size, text and one score column per criterion, as prune.score_table."""
    samples = chunk(docs, tok, cfg.model.seq_len)
    ids = [s.id for s in samples]
    table = info_frame(samples)
    table["text"] = [s.text for s in samples]
    ctx = ScoringContext(nll=nll)  # its memo lives as long as the shard
    for spec in specs:
        raw, _ = registry.score(registry.build(spec), samples, ctx, Seeds.of(seed).selection)
        table[spec.label] = check_scores(spec.label, ids, raw)
    return table


def _shard_ok(path: Path, columns: list[str]) -> bool:
    import pyarrow.parquet as pq

    data, _ = read_entry(path)
    if data is None:
        return False
    try:
        return pq.read_schema(io.BytesIO(data)).names == columns
    except Exception:  # noqa: BLE001 - verified bytes that are no parquet file: recompute the shard
        return False


# --- the job -----------------------------------------------------------------------------------------


def prune_corpus(cfg: RunConfig, out: Path, ratio: float, *, pool_bytes: int | None = None, shard_docs: int = 2000,
                 select_by: str | None = None, mode: str | None = None, seed: int = 0, log: Log = print,
                 world: World | None = None) -> dict | None:
    """Score the pool of `cfg.data.corpus` with `cfg.criteria` in shards under `out`, then (main rank) select.

    Returns the main rank's summary (see `merge`), None on the other ranks. `seed` is that of `bench score`
    and `bench prune`, and of a run's cells: seeded criteria score, and `sample` draws, with Seeds.of(seed).selection.
    """
    world = world or World()
    specs = streamable(cfg.criteria)
    labels = [s.label for s in specs]
    check_ratio(ratio)
    if not specs:
        raise UserError("no criteria to score")
    select_by = select_by or labels[0]
    if select_by not in labels:
        raise UserError(f"--select-by {select_by!r} is not one of the criteria scored: {', '.join(labels)}")
    if mode is not None and mode not in MODES:
        raise UserError(f"unknown selection mode {mode!r}; valid: {', '.join(MODES)}")
    if shard_docs < 1:
        raise UserError(f"--shard-docs {shard_docs}: give a positive number of documents per shard")
    if pool_bytes is not None and pool_bytes <= 0:
        raise UserError(f"--pool-bytes {pool_bytes}: give a positive number of bytes")
    out, data_dir, spec = Path(out), Path(cfg.data_dir), cfg.data.corpus
    try:
        (out / "shards").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the output folder {out} ({e.strerror or e}); give a writable --out") from None

    say = log if world.is_main else (lambda msg: None)  # every rank does this part: one of them tells
    read = open_corpus(spec, data_dir, say)
    t0 = time.time()
    scanned = scan(read, spec, cfg.data, pool_bytes)
    n_shards = -(-scanned.n_pool // shard_docs)
    say(f"stream: {scanned.n_documents} documents read in {time.time() - t0:.1f}s: probe slice "
        f"{len(scanned.probe)} documents, pool {scanned.n_pool} documents in {n_shards} shards of {shard_docs}")

    # The tokenizer and the probe are those of the in-memory pipeline: same slice, same cache entries.
    tok = load_or_train(scanned.probe, cfg.model.vocab_size, data_dir, say) if world.is_main else None
    world.barrier()  # one rank trains and caches the tokenizer; the others read it
    if tok is None:
        tok = load_or_train(scanned.probe, cfg.model.vocab_size, data_dir, log)
    eos = eos_id(tok)
    probe_samples = chunk(scanned.probe, tok, cfg.model.seq_len)
    model, _ = load_or_train_probe(cfg, probe_samples, eos, data_dir, say, world)
    model.to(cfg.device)

    seeded = any(registry.get(s.name).seeded for s in specs)
    key = stable_hash("stream", STREAM_VERSION, spec, scanned.fingerprint, cfg.data.ood, cfg.data.split_seed,
                      cfg.data.probe_bytes, pool_bytes, shard_docs, cfg.model, cfg.eval_batch_size,
                      cfg.train.precision, cfg.device, probe_key(cfg, probe_samples), seed if seeded else None,
                      [(s.label, c.version, c.values) for s in specs for c in [registry.build(s)]])
    info = {"corpus": spec, "criteria": labels, "preset": cfg.preset, "shard_docs": shard_docs,
            "pool_bytes": pool_bytes, "n_shards": n_shards, "pool_documents": scanned.n_pool}
    problem = world.broadcast(_claim(out, key, info) if world.is_main else None)
    if problem:
        raise UserError(problem)

    # Pass 2. A rank reads every pool document (to know where shards start) but keeps only its own shards'.
    marker = marker_path(out, world.rank, world.size)
    marker.unlink(missing_ok=True)  # a marker from an earlier run must not vouch for this one
    batch_tokens = cfg.eval_batch_size * cfg.model.seq_len
    nll = lambda samples: token_nll(model, samples, eos, batch_tokens, cfg.device, cfg.train.precision)
    columns = INFO + ["text"] + labels
    computed, reused, todo, docs = [], [], None, []

    def write(i: int, docs: list[Document]) -> None:
        t = time.time()
        table = score_shard(docs, tok, nll, cfg, specs, seed)
        write_checked(shard_path(out, i), table.to_parquet(index=False))
        computed.append(i)
        log(f"stream: shard {i + 1}/{n_shards}: {len(docs)} documents, {len(table)} samples in {time.time() - t:.1f}s")

    with progress(log, len(range(world.rank, n_shards, world.size)), "shards") as advance:
        for j, doc in enumerate(pool_documents(read, spec, cfg.data, scanned)):
            i, start = divmod(j, shard_docs)
            if start == 0:  # shard i starts: score the one before, if it was ours to score
                if todo is not None:
                    write(todo, docs)
                    advance()
                todo, docs = None, []
                if i % world.size == world.rank:
                    if _shard_ok(shard_path(out, i), columns):
                        reused.append(i)
                        advance()
                    else:
                        todo = i
            if todo is not None:
                docs.append(doc)
        if todo is not None:
            write(todo, docs)
            advance()
    if reused:
        log(f"stream: reused {len(reused)} finished shards")
    atomic_write_json(marker, {"key": key, "rank": world.rank, "world_size": world.size, "n_shards": n_shards,
                               "computed": computed, "reused": reused})
    world.barrier()
    if not world.is_main:
        return None
    return merge(out, key, world.size, ratio, select_by, mode, seed, log)


def _claim(out: Path, key: str, info: dict) -> str | None:
    """Record which run `out` holds; a message instead when it holds another run's shards."""
    path = out / "stream.json"
    try:
        previous = json.loads(path.read_text())
    except FileNotFoundError:
        previous = None
    except (OSError, ValueError):
        previous = {}
    if previous is None and any((out / "shards").glob("shard-*.parquet")):
        return (f"{out / 'shards'} holds shards but no {path.name} says what they are; use another --out, or "
                f"remove {out / 'shards'} to start over")
    if previous is not None and previous.get("key") != key:
        return (f"{out} holds the shards of another prune-corpus run (a different corpus, preset, criteria or "
                f"--shard-docs); use another --out, or remove {out / 'shards'} and {path} to start over")
    atomic_write_json(path, info | {"key": key})
    for name in ("scores.parquet", "kept.jsonl"):  # an earlier merge must not outlive a run that fails
        (out / name).unlink(missing_ok=True)
    return None


# --- merge and select (main rank) --------------------------------------------------------------------


def merge(out: Path, key: str, world_size: int, ratio: float, select_by: str, mode: str | None = None,
          seed: int = 0, log: Log = print) -> dict:
    """Check the markers and every shard, select by `select_by`, write scores.parquet and kept.jsonl.

    Nothing is written unless every shard of the run is there and passes its checksum; earlier merged
    files are removed first, so a folder never shows a merge that its shards do not back.
    """
    out = Path(out)
    for name in ("scores.parquet", "kept.jsonl"):
        (out / name).unlink(missing_ok=True)
    markers, problems = [], []
    for rank in range(world_size):
        path = marker_path(out, rank, world_size)
        try:
            marker = json.loads(path.read_text())
        except FileNotFoundError:
            problems.append(f"{path.name} is missing (rank {rank} did not finish)")
            continue
        except (OSError, ValueError):
            problems.append(f"{path.name} is unreadable")
            continue
        if marker.get("key") != key:
            problems.append(f"{path.name} belongs to another run")
        markers.append(marker)
    if not problems and len({m.get("n_shards") for m in markers}) != 1:
        problems.append("the ranks disagree on the number of shards")
    if problems:
        raise UserError(f"cannot merge {out}: {'; '.join(problems)}; run the same command again to finish it")
    n_shards = markers[0]["n_shards"]
    try:
        labels = json.loads((out / "stream.json").read_text())["criteria"]
    except (OSError, ValueError, KeyError):
        raise UserError(f"cannot merge {out}: {out / 'stream.json'} is missing or unreadable; run the same "
                        "command again") from None

    def shard(i: int, columns: list[str]) -> tuple[pd.DataFrame | None, str | None]:
        data, problem = read_entry(shard_path(out, i))
        if data is None:
            return None, f"{shard_path(out, i).name} {problem or 'is missing'}"
        return pd.read_parquet(io.BytesIO(data), columns=columns), None

    # Every shard is checked before anything is written; of each, only ids, sizes and scores are kept.
    parts, bad = [], []
    for i in range(n_shards):
        part, problem = shard(i, INFO + labels)
        parts.append(part)
        if problem:
            bad.append(problem)
    if bad:
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise UserError(f"cannot merge {out}: {len(bad)} of {n_shards} shards cannot be used ({'; '.join(bad[:3])}"
                        f"{more}); run the same command again to recompute them")
    table = pd.concat(parts, ignore_index=True)
    del parts
    repeated = table["id"][table["id"].duplicated()]
    if len(repeated):
        raise UserError(f"cannot merge {out}: the sample id {repeated.iloc[0]!r} occurs twice; document ids must be unique")
    spec = registry.parse_specs(select_by)[0]
    mode = mode or registry.build(spec).keep
    kept = set(select(list(table["id"]), table[select_by].to_numpy(dtype=float), ratio, mode, Seeds.of(seed).selection))
    atomic_write_bytes(out / "scores.parquet", table.to_parquet(index=False))
    kept_tokens = 0
    with atomic_file(out / "kept.jsonl", "w") as f:
        for i in range(n_shards):  # the texts, one shard at a time
            part, problem = shard(i, ["id", "source", "n_tokens", "text"])
            if problem:  # changed since it was checked: the temporary file is dropped, nothing is written
                raise UserError(f"cannot merge {out}: {problem}; run the same command again to recompute it")
            part = part[part["id"].isin(kept)]
            kept_tokens += int(part["n_tokens"].sum())
            f.write("".join(kept_line(r.id, r.source, r.text) for r in part.itertuples()))
    computed = sorted(i for m in markers for i in m["computed"])
    reused = sorted(i for m in markers for i in m["reused"])
    log(f"stream: kept {len(kept)} of {len(table)} samples by {select_by} ({mode}) -> {out / 'kept.jsonl'}")
    return {"samples": len(table), "kept": len(kept), "kept_tokens": kept_tokens, "shards": n_shards,
            "computed": computed, "reused": reused, "select_by": select_by, "mode": mode,
            "scores": str(out / "scores.parquet"), "kept_path": str(out / "kept.jsonl")}
