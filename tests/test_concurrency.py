"""Two runs sharing one data cache: started together from an empty cache, both finish, and each equals
the same run made alone. No cache entry is ever half-read, whoever writes it at the same moment."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import make_documents, tiny_config

from infoprune import atomic, embed
from infoprune.atomic import BAD_CHECKSUM, NO_CHECKSUM, read_entry, sha256_path, write_checked
from infoprune.runbook import run
from infoprune.sources import _fetch

TESTS = Path(__file__).parent
# One torch thread per process: two runs with two threads each on two busy cores spend most of their
# time spinning (measured: 71 s against 5 s for the pair); the results are the same bytes either way.
ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}


# --- cache entries written and read at the same moment ------------------------------------------------


def test_write_checked_writes_the_checksum_first_so_a_crash_leaves_no_entry(tmp_path, monkeypatch):
    path = tmp_path / "entry.bin"
    real = atomic.atomic_write_bytes

    def crash(target, data):
        if Path(target) == path:
            raise KeyboardInterrupt  # killed after the checksum, before the data
        real(target, data)

    monkeypatch.setattr(atomic, "atomic_write_bytes", crash)
    try:
        write_checked(path, b"payload")
    except KeyboardInterrupt:
        pass
    assert sha256_path(path).exists() and not path.exists()
    assert read_entry(path) == (None, None)  # no entry, and nothing to warn about
    monkeypatch.setattr(atomic, "atomic_write_bytes", real)
    write_checked(path, b"payload")
    assert read_entry(path) == (b"payload", None)
    sha256_path(path).unlink()  # as an entry written before checksums existed
    assert read_entry(path) == (None, NO_CHECKSUM) and "has no checksum" in NO_CHECKSUM
    write_checked(path, b"payload")
    path.write_bytes(b"paylaod")
    assert read_entry(path) == (None, BAD_CHECKSUM) and "corrupt" in BAD_CHECKSUM


def test_concurrent_writers_and_readers_never_see_half_an_entry(tmp_path):
    """Writers of the same entry (same key, same bytes) and of rival bytes, against a tight reader loop."""
    same = tmp_path / "same.npy"
    rival = tmp_path / "rival.bin"
    payload = np.arange(300_000, dtype=np.int64)
    rivals = [bytes([i]) * 2_000_000 for i in range(4)]
    seen: dict[str, list] = {"same": [], "rival": []}
    stop = threading.Event()

    def write_same():
        while not stop.is_set():
            atomic.write_npy(same, payload)

    def write_rival(i):
        while not stop.is_set():
            write_checked(rival, rivals[i])

    def read():
        while not stop.is_set():
            logs: list[str] = []
            array = atomic.read_npy(same, logs.append, "test")
            seen["same"].append((None if array is None else bool((array == payload).all()), tuple(logs)))
            data, problem = read_entry(rival)
            seen["rival"].append((data in rivals if data is not None else None, problem))

    threads = [threading.Thread(target=write_same) for _ in range(2)]
    threads += [threading.Thread(target=write_rival, args=(i,)) for i in range(2)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    # The same bytes under one key: every read is the whole entry or no entry, and never a warning.
    assert {r for r in seen["same"]} <= {(True, ()), (None, ())}
    assert (True, ()) in seen["same"]
    # Rival bytes: a read may find the other writer's checksum (and recompute), but never accepts a mix.
    assert {data for data, _ in seen["rival"]} <= {True, None}
    assert {problem for _, problem in seen["rival"]} <= {None, BAD_CHECKSUM}
    assert not list(tmp_path.glob(".*.tmp"))


# --- two runs, one data cache ------------------------------------------------------------------------

SOURCES = ("fortunes", "python-doc")


def fixture_trees(root: Path) -> Path:
    """Package trees for the fortunes and python-doc sources, as a fetch would unpack them."""
    docs = make_documents(150, seed=3)
    fortunes = root / "fortunes" / "usr/share/games/fortunes"
    fortunes.mkdir(parents=True)
    for work in ("tales", "letters"):
        (fortunes / work).write_text("".join(d.text + "\n%\n" for d in docs[:100] if d.source == work))
    pages = root / "python-doc" / "usr/share/doc/python3.11/html/_sources/library"
    pages.mkdir(parents=True)
    for d in docs[100:]:
        (pages / f"page{d.id[-4:]}.rst.txt").write_text(f"Page\n====\n\n{d.text}\n")
    return root


def install_fakes(fixtures: str, setattr=setattr) -> None:
    """Fetching copies the fixture trees (slowly, so two processes overlap); embedding hashes the text.

    Both are deterministic, so a run in a subprocess and one in this process compute the same things.
    """

    def fetch(self, spec, work):
        time.sleep(0.3)
        shutil.copytree(Path(fixtures) / spec.name, work / "root")
        return [{"type": "deb", "name": spec.packages[0], "version": "1", "file": "x.deb", "bytes": 1, "sha256": "0" * 64}]

    def embed_texts(texts, batch_size=64):
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest() * 12, dtype=np.uint8)[: embed.DIM] for t in texts]
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(texts), embed.DIM) - 127.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)

    setattr(_fetch.Fetcher, "fetch", fetch)
    setattr(embed, "embed_texts", embed_texts)


# Run A and run B share the corpus build, the tokenizer, the probe, the information scores, the
# embeddings (density and semdedup embed the same pool) and the full-data cell's trained model.
RUNS = {"a": ("information,density", (0.5,)), "b": ("information,semdedup", (0.25,))}


def config(name: str, out: Path, data: Path):
    criteria, ratios = RUNS[name]
    cfg = tiny_config(Path("unused"), out, data, criteria=criteria, ratios=ratios)
    return replace(cfg, data=replace(cfg.data, corpus="default:" + ",".join(SOURCES), ood="fortunes/letters"))


SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    import test_concurrency as t
    from infoprune.runbook import run
    t.install_fakes({fixtures!r})
    ready, go = Path({ready!r}), Path({go!r})
    ready.write_text("ready")
    while not go.exists():  # start together, once both have imported everything
        time.sleep(0.01)
    logs = []
    try:
        code = run(t.config({name!r}, Path({out!r}), Path({data!r})), log=logs.append)
    finally:
        Path({log!r}).write_text("\\n".join(logs))
    sys.exit(code)
""")


def cache_files(data: Path) -> dict[str, bytes]:
    skip = {"manifest.json", ".lock"}  # the corpus manifest records build times; .lock is the build lock
    return {p.relative_to(data).as_posix(): p.read_bytes() for p in sorted(data.rglob("*"))
            if p.is_file() and p.name not in skip}


def test_two_runs_sharing_one_data_dir_from_empty_equal_the_same_runs_one_after_the_other(tmp_path, monkeypatch,
                                                                                          one_thread):
    fixtures = fixture_trees(tmp_path / "fixtures")
    shared = tmp_path / "shared"
    procs, logs = {}, {}
    for name in RUNS:
        logs[name] = tmp_path / f"{name}.log"
        script = SCRIPT.format(tests=str(TESTS), fixtures=str(fixtures), ready=str(tmp_path / f"{name}.ready"),
                               go=str(tmp_path / "go"), name=name, out=str(tmp_path / f"out-{name}"),
                               data=str(shared), log=str(logs[name]))
        procs[name] = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    deadline = time.time() + 120
    while not all((tmp_path / f"{n}.ready").exists() for n in RUNS) and time.time() < deadline:
        time.sleep(0.02)
    (tmp_path / "go").write_text("go")
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    together = {name: logs[name].read_text().splitlines() for name in RUNS}
    for name, lines in together.items():
        assert not [m for m in lines if m.startswith("warning")], lines  # nothing was found half-written

    # The same two runs one after the other, in this process, from another empty data dir.
    install_fakes(str(fixtures), monkeypatch.setattr)
    alone = tmp_path / "alone"
    for name in RUNS:
        assert run(config(name, tmp_path / f"alone-{name}", alone), log=lambda m: None) == 0
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"out-{name}" / "results.csv"),
                                      pd.read_csv(tmp_path / f"alone-{name}" / "results.csv"))

    # Every cache entry is there once, whole, and byte-identical to the one written alone: corpus,
    # tokenizer, probe, scores, embeddings, trained models. No temporary file is left anywhere.
    shared_files, alone_files = cache_files(shared), cache_files(alone)
    assert shared_files.keys() == alone_files.keys()
    for kind in ("corpus/", "tokenizers/", "probes/", "scores/", "embeddings/"):
        assert any(k.startswith(kind) for k in shared_files), kind
    differ = [k for k in shared_files if shared_files[k] != alone_files[k]]
    # A trained model's record, and the cost record beside a cache entry, hold times: compare them without.
    timed = [k for k in differ if k.endswith(("train.json", "train.json.sha256", ".meta.json"))]
    for k in timed:
        if k.endswith(".json"):
            untimed = [{f: v for f, v in json.loads(files[k]).items() if f not in ("seconds", "stages", "where")}
                       for files in (shared_files, alone_files)]
            assert untimed[0] == untimed[1], k
    assert [k for k in differ if k not in timed] == []
    for name in shared_files:
        if name.endswith(".sha256"):
            entry = shared / name.removesuffix(".sha256")
            assert read_entry(entry)[0] is not None, entry
    assert not [p for p in tmp_path.rglob(".*.tmp")]
    corpus = json.loads((shared / "corpus" / "manifest.json").read_text())["sources"]
    assert sorted(corpus) == sorted(SOURCES)
