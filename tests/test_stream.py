"""prune-corpus: the streamed, sharded path agrees with the in-memory one, resumes, refuses partial merges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import make_documents, tiny_config, write_jsonl

import bench.presets
from infoprune import stream
from infoprune.sources import lazy
from bench.cli import main as bench_main
from infoprune.criterion import get, names, parse_specs
from infoprune.documents import Document
from infoprune.errors import UserError
from infoprune.pipeline import Pipeline
from infoprune.prune import prune, score_table, write_kept
from infoprune.samples import split_documents
from infoprune.sources import load_corpus

CRITERIA = "information,length,perplexity:keep=middle,random,compression"
PROBE = ("information", "perplexity:keep=middle")  # scored under the probe: equal up to float rounding


def config(corpus: Path, root: Path, pool_bytes: int = 10**9, criteria: str = CRITERIA):
    cfg = tiny_config(corpus, root / "out", root / "data", criteria=criteria)
    return replace(cfg, data=replace(cfg.data, pool_bytes=pool_bytes))


@pytest.fixture(scope="module")
def sorted_corpus(tmp_path_factory) -> Path:
    """Documents in id order, the order in which the in-memory pool lists them, so kept.jsonl compares byte for byte."""
    root = tmp_path_factory.mktemp("stream")
    return write_jsonl(root / "corpus.jsonl", sorted(make_documents(150), key=lambda d: d.id))


@pytest.fixture(scope="module")
def in_memory(sorted_corpus) -> tuple[object, pd.DataFrame]:
    cfg = config(sorted_corpus, sorted_corpus.parent)
    return cfg, score_table(Pipeline(cfg, lambda m: None), cfg.criteria)


def quiet(msg: str) -> None:
    pass


def test_per_sample_marks_the_criteria_that_score_a_sample_alone():
    assert {n for n in names() if get(n).per_sample} == {
        "c4-quality", "compression", "fineweb-quality", "gopher-quality", "gopher-repetition", "information", "length",
        "perplexity", "random"}
    labels = [s.label for s in stream.streamable(parse_specs("all"), all_requested=True)]
    assert labels == ["c4-quality", "compression", "compression:keep=middle", "fineweb-quality", "gopher-quality",
                      "gopher-repetition", "information", "information:keep=middle", "length", "perplexity",
                      "perplexity:keep=middle", "perplexity:keep=bottom", "random"]


@pytest.mark.parametrize("pool_bytes", [None, 6_000])
def test_bands_and_slices_agree_with_split_documents(tmp_path, pool_bytes):
    docs = make_documents(300, seed=3) + [Document("blank/x/0", "blank", "  \n")]
    path = write_jsonl(tmp_path / "c.jsonl", docs)
    data = replace(config(path, tmp_path).data, pool_bytes=pool_bytes or 10**9, probe_bytes=5_000)
    read = lazy.open_corpus(data.corpus, tmp_path, quiet)
    scanned = stream.scan(read, data.corpus, data, pool_bytes)
    split = split_documents(load_corpus(data.corpus, tmp_path, quiet).documents, data)
    assert scanned.probe == split.probe
    pool = list(stream.pool_documents(read, data.corpus, data, scanned))
    assert sorted(d.id for d in pool) == [d.id for d in split.pool] and len(split.pool) > 10
    band = sum(stream.band(d, data) == "pool" for d in docs if d.text.strip())
    assert len(split.pool) == band if pool_bytes is None else len(split.pool) < band


def test_text_folder_reads_as_load_corpus_does(tmp_path):
    for rel, text in [("a/one.txt", "first document"), ("a/two.md", "second"), ("three.txt", "third"),
                      ("skip.bin", "no"), ("b/empty.txt", " ")]:
        (tmp_path / "t" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "t" / rel).write_text(text)
    streamed = [d for d in lazy.open_corpus(f"text:{tmp_path / 't'}", tmp_path, quiet)() if d.text.strip()]
    assert streamed == load_corpus(f"text:{tmp_path / 't'}", tmp_path, quiet).documents


def test_hf_datasets_stream_when_the_hub_is_reachable(tmp_path, monkeypatch):
    calls = []

    class Rows:  # as an IterableDataset before its features are resolved: no column names yet
        column_names = None

        def __iter__(self):
            return iter([{"text": "first", "n": 1}, {"text": "", "n": 2}, {"text": "third", "n": 3}])

        def select_columns(self, columns):
            return [{c: row[c] for c in columns} for row in self]

    def load_dataset(name, config=None, split=None, streaming=False):
        calls.append(streaming)
        if name == "nosuch/set":
            raise ConnectionError("Couldn't reach 'nosuch/set' on the Hub\nmore detail")
        return Rows()

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)  # restored afterwards, though _hf sets them when offline
    monkeypatch.setattr(lazy, "_hub_reachable", lambda: True)
    docs = list(lazy.open_corpus("hf:org/tiny:cfg", tmp_path, quiet)())
    assert [d.id for d in docs] == ["tiny/cfg/0000000", "tiny/cfg/0000001", "tiny/cfg/0000002"] and calls == [True]
    monkeypatch.setattr(lazy, "_hub_reachable", lambda: False)
    with pytest.raises(UserError, match="cannot load the Hugging Face dataset 'nosuch/set'") as err:
        list(lazy.open_corpus("hf:nosuch/set", tmp_path, quiet)())
    assert calls[-1] is False and "\n" not in str(err.value)  # offline: the local cache, memory-mapped


def test_scores_and_kept_set_equal_the_in_memory_path(in_memory, tmp_path):
    cfg, table = in_memory
    summary = stream.prune_corpus(cfg, tmp_path / "s", 0.5, shard_docs=9, log=quiet)
    scores = pd.read_parquet(tmp_path / "s" / "scores.parquet")
    assert "text" not in scores.columns and summary["shards"] > 5
    assert summary["samples"] == len(table) and summary["computed"] == list(range(summary["shards"]))
    pd.testing.assert_frame_equal(scores.drop(columns=list(PROBE)), table.drop(columns=["text", *PROBE]),
                                  check_exact=True)
    for label in PROBE:  # batches of other samples around each one: the last bits of a float may differ
        np.testing.assert_allclose(scores[label], table[label], rtol=1e-7)
    for label in ("information", "length"):
        summary = stream.prune_corpus(cfg, tmp_path / "s", 0.5, shard_docs=9, select_by=label, log=quiet)
        assert summary["reused"] == list(range(summary["shards"])) and not summary["computed"]
        write_kept(prune(table, label, 0.5), tmp_path / "kept.jsonl")
        assert (tmp_path / "s" / "kept.jsonl").read_bytes() == (tmp_path / "kept.jsonl").read_bytes()


def test_corpus_order_and_shard_size_change_nothing_but_row_order(in_memory, sorted_corpus, tmp_path):
    cfg, table = in_memory
    docs = [json.loads(line) for line in sorted_corpus.read_text().splitlines()]
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("".join(json.dumps(d) + "\n" for d in reversed(docs)))
    stream.prune_corpus(replace(cfg, data=replace(cfg.data, corpus=f"jsonl:{shuffled}")), tmp_path / "s", 0.5,
                        shard_docs=1000, select_by="length", log=quiet)
    scores = pd.read_parquet(tmp_path / "s" / "scores.parquet").set_index("id").sort_index()
    expected = table.drop(columns="text").set_index("id").sort_index()
    pd.testing.assert_frame_equal(scores.drop(columns=list(PROBE)), expected.drop(columns=list(PROBE)))
    kept = sorted((tmp_path / "s" / "kept.jsonl").read_text().splitlines())
    write_kept(prune(table, "length", 0.5), tmp_path / "kept.jsonl")
    assert kept == sorted((tmp_path / "kept.jsonl").read_text().splitlines())


def test_a_killed_run_resumes_from_its_finished_shards(in_memory, tmp_path, monkeypatch):
    cfg, _ = in_memory
    real, calls = stream.score_shard, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as Ctrl-C or SIGTERM would, while the fourth shard is scored
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "score_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        stream.prune_corpus(cfg, tmp_path / "s", 0.5, shard_docs=9, log=quiet)
    assert not (tmp_path / "s" / "kept.jsonl").exists()
    shard = stream.shard_path(tmp_path / "s", 1)
    shard.write_bytes(shard.read_bytes()[:-10])  # a torn write: fails its checksum, so it is recomputed
    monkeypatch.setattr(stream, "score_shard", real)
    summary = stream.prune_corpus(cfg, tmp_path / "s", 0.5, shard_docs=9, log=quiet)
    assert summary["reused"] == [0, 2] and summary["computed"] == [1, *range(3, summary["shards"])]
    whole = stream.prune_corpus(cfg, tmp_path / "whole", 0.5, shard_docs=9, log=quiet)
    assert whole["kept"] == summary["kept"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s" / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "whole" / "scores.parquet"), check_exact=True)
    assert (tmp_path / "s" / "kept.jsonl").read_bytes() == (tmp_path / "whole" / "kept.jsonl").read_bytes()


@pytest.fixture
def finished(in_memory, tmp_path):
    cfg, _ = in_memory
    out = tmp_path / "s"
    stream.prune_corpus(cfg, out, 0.5, shard_docs=9, log=quiet)
    key = json.loads((out / "stream.json").read_text())["key"]
    return out, lambda: stream.merge(out, key, 1, 0.5, "information", log=quiet)


@pytest.mark.parametrize("damage,message", [
    (lambda out: stream.shard_path(out, 3).unlink(), "shard-00003.parquet is missing"),
    (lambda out: stream.shard_path(out, 2).write_bytes(b"PAR1 not really"), "shard-00002.parquet fails its checksum"),
    (lambda out: stream.marker_path(out, 0, 1).unlink(), "rank-0-of-1.json is missing (rank 0 did not finish)"),
])
def test_a_missing_or_corrupt_shard_blocks_the_merge(finished, damage, message):
    out, merge = finished
    assert merge()["kept"] > 0
    damage(out)
    with pytest.raises(UserError, match="cannot merge") as err:
        merge()
    assert message in str(err.value) and "run the same command again" in str(err.value)
    assert not (out / "kept.jsonl").exists() and not (out / "scores.parquet").exists()


def test_a_folder_of_another_run_is_refused(finished, in_memory):
    out, _ = finished
    cfg, _ = in_memory
    with pytest.raises(UserError, match="holds the shards of another prune-corpus run"):
        stream.prune_corpus(cfg, out, 0.5, shard_docs=10, log=quiet)


@pytest.mark.parametrize("lines,argv,message", [
    (None, ["--criteria", "information,dsir"], "dsir scores a sample against the whole pool"),
    (None, ["--criteria", "word-frequency", "--ratio", "0.5"], "use 'bench score' (in memory) instead"),
    (None, ["--ratio", "1.5"], "pruning ratio 1.5 is outside (0, 1)"),
    (None, ["--select-by", "length"], "--select-by 'length' is not one of the criteria scored: information"),
    (["", "  "], [], "has no non-blank documents; use another --corpus"),
    (['{"text": "a"}', "{not json"], [], "line 2 is not valid JSON"),
    (['{"id": "x", "text": "a"}', '{"id": "x", "text": "b"}'], [], "line 2 repeats the id 'x'; ids must be unique"),
    (['{"id": "only", "text": "one document"}'], [], "is too small: its"),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, lines, argv, message):
    corpus = tmp_path / "c.jsonl"
    if lines is None:
        write_jsonl(corpus, make_documents(20))
    else:
        corpus.write_text("\n".join(lines) + "\n")
    options = {"--corpus": f"jsonl:{corpus}", "--criteria": "information", "--ratio": "0.5"}
    options |= dict(zip(argv[::2], argv[1::2]))
    code = bench_main(["prune-corpus", *(x for kv in options.items() for x in kv), "--out", str(tmp_path / "o"),
                       "--data-dir", str(tmp_path / "d"), "--preset", "smoke", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_a_missing_corpus_is_one_error_line(tmp_path, capsys):
    assert bench_main(["prune-corpus", "--corpus", f"jsonl:{tmp_path / 'none.jsonl'}", "--ratio", "0.5",
                       "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err and "No such file or directory" in err


# --- torchrun ------------------------------------------------------------------------------------------

WORKER = '''
import sys
sys.path.insert(0, {tests!r})
import bench.presets
from bench.cli import main
from conftest import tiny_config
bench.presets.PRESETS["tiny"] = tiny_config("unused", "unused", "unused")
raise SystemExit(main(["prune-corpus", *sys.argv[1:]]))
'''


def test_two_processes_write_the_shards_and_result_of_one(sorted_corpus, tmp_path, monkeypatch):
    """`bench.stream` under torchrun (gloo, CPU) on a tiny preset: bit for bit the one-process result."""
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER.format(tests=str(Path(__file__).parent)))
    monkeypatch.setitem(bench.presets.PRESETS, "tiny", tiny_config("unused", "unused", "unused"))
    args = ["--corpus", f"jsonl:{sorted_corpus}", "--criteria", "information,length,random", "--ratio", "0.3",
            "--preset", "tiny", "--shard-docs", "7", "--device", "cpu", "--data-dir", str(tmp_path / "data")]
    assert bench_main(["prune-corpus", *args, "--out", str(tmp_path / "one")]) == 0  # also trains the probe both runs share
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(worker), *args, "--out", str(tmp_path / "two")],
                          check=False, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 1: stream: shard 2/" in done.stderr and "rank 0: stream: shard 1/" in done.stderr
    assert sorted(p.name for p in (tmp_path / "two" / "shards").glob("rank-*")) == ["rank-0-of-2.json", "rank-1-of-2.json"]
    for name in ("scores.parquet", "kept.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    for i in range(json.loads((tmp_path / "one" / "stream.json").read_text())["n_shards"]):
        assert stream.shard_path(tmp_path / "one", i).read_bytes() == stream.shard_path(tmp_path / "two", i).read_bytes()


@pytest.mark.slow
def test_peak_memory_stays_flat_as_the_pool_grows(tmp_path):
    """bench memory at 1x and 10x pool (a few minutes on 2 cores): prune-corpus's peak RSS hardly moves."""
    assert bench_main(["memory", "--out", str(tmp_path), "--sizes", "1,10", "--skip-in-memory"]) == 0
    runs = json.loads((tmp_path / "memory.json").read_text())["runs"]
    assert runs[1]["pool_samples"] >= 9 * runs[0]["pool_samples"]
    assert runs[1]["stream"]["peak_mb"] <= 1.5 * runs[0]["stream"]["peak_mb"], runs
    assert (tmp_path / "memory.png").stat().st_size > 0
