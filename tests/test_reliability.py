"""Issue 8: nothing lost on interrupt, one run per folder, one clear line for every bad input, results
that can be trusted (checksummed caches, run ids, seeds, determinism), and no unsafe loading.

Two runs sharing one data cache are in test_concurrency.py.
"""

import ast
import gzip
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import WORDS, Exploding, NotANumber, make_documents, tiny_config, write_jsonl

import infoprune.pipeline as pipeline
from infoprune.config import CriterionSpec, DataConfig
from infoprune.criterion import REGISTRY
from infoprune.documents import Document
from infoprune.errors import UserError
from infoprune.pipeline import Cell, Pipeline
from infoprune.runbook import run
from infoprune.samples import band, unit_hash
from infoprune.store import RunStore

TESTS = Path(__file__).parent
ROOT = TESTS.parent
# One torch thread per process: on two cores shared with other jobs, torch's two threads per process
# mostly spin (a tiny run took 14x the time); the tiny models give the same bytes with one thread or two.
ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}


def cell_files(out: Path) -> list[Path]:
    return sorted((out / "cells").glob("*[0-9a-f].json"))


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    store = RunStore(tmp_path / "out")
    with store.lock():
        with pytest.raises(UserError, match=rf"another run \(pid {os.getpid()}\) is using"):
            with RunStore(tmp_path / "out").lock():
                pass
    with store.lock():  # released on exit
        pass


def test_a_stale_lock_is_taken_over(tmp_path):
    store = RunStore(tmp_path / "out")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "out" / ".lock").write_text(dead.stdout.strip())
    with store.lock():
        assert (tmp_path / "out" / ".lock").read_text() == str(os.getpid())


def test_an_unwritable_output_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot write to output folder"):
        RunStore(blocker / "out")


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from conftest import tiny_config
    import infoprune.pipeline as pipeline

    real, trained = pipeline.train, []

    def train(model, *args, **kwargs):  # the fourth cell is killed at its third training step
        trained.append(model)
        if len(trained) == 4:
            steps = []

            def step(module, inputs):
                steps.append(1)
                if len(steps) == 3:
                    os.kill(os.getpid(), signal.SIGKILL)

            model.model.register_forward_pre_hook(step)  # the decoder: training calls it on every path
        return real(model, *args, **kwargs)

    pipeline.train = train
    import infoprune.runbook as runbook
    runbook.run(tiny_config(Path({corpus!r}), Path({out!r}), Path({data!r}), seeds=(0, 1, 2)), log=lambda m: None)
""")


def test_sigkill_in_the_middle_of_a_cell_then_resume_gives_every_cell_once_and_the_same_results(corpus_file, tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    script = KILL_SCRIPT.format(tests=str(TESTS), corpus=str(corpus_file), out=str(out), data=str(data))
    proc = subprocess.Popen([sys.executable, "-c", script], env=ONE_THREAD, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err
    assert len(cell_files(out)) == 3  # the three cells before it, whole; nothing of the fourth
    assert not list(out.rglob(".*.tmp")) and not list(data.rglob(".*.tmp"))
    assert (out / ".lock").read_text() == str(proc.pid)  # left behind by the killed run
    cfg = tiny_config(corpus_file, out, data, seeds=(0, 1, 2))
    logs: list[str] = []
    assert run(cfg, log=logs.append) == 0  # the lock of the killed run is stale, so this resumes
    assert "3 already done, 9 to run" in next(m for m in logs if m.startswith("run "))
    resumed = pd.read_csv(out / "results.csv")
    assert not resumed.duplicated(["criterion", "ratio", "seed", "metric"]).any()
    assert len(resumed.groupby(["criterion", "ratio", "seed"])) == 12 and len(cell_files(out)) == 12
    clean = tiny_config(corpus_file, tmp_path / "clean", tmp_path / "clean-data", seeds=(0, 1, 2))
    run(clean, log=lambda m: None)
    pd.testing.assert_frame_equal(resumed, pd.read_csv(tmp_path / "clean" / "results.csv"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["cells"]) == 12 and all(c["status"] == "done" for c in manifest["cells"])


def test_a_bit_flip_in_any_cache_entry_is_detected_and_recomputed(corpus_file, tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    cfg = tiny_config(corpus_file, out, data, criteria="information")
    run(cfg, log=lambda m: None)
    before = pd.read_csv(out / "results.csv")
    # The information cell: recomputing it reads the scores, which read the probe and the tokenizer.
    cell = next(p for p in (out / "cells").glob("*[0-9a-f].json")
                if json.loads(p.read_text())["criterion"] == "information")
    record = json.loads(cell.read_text())
    record["metrics"]["bpb/in_domain"] = 0.1  # still valid JSON, but not what was computed
    cell.write_text(json.dumps(record))
    for pattern in ("scores/*.npy", "tokenizers/*.json", "probes/*/model.safetensors"):
        (path,) = data.glob(pattern)
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    logs = []
    run(cfg, log=logs.append)
    warnings = [m for m in logs if m.startswith("warning:")]
    assert len(warnings) == 4, warnings  # the cell, the scores, the tokenizer, the probe
    pd.testing.assert_frame_equal(before, pd.read_csv(out / "results.csv"))


def test_a_full_disk_loses_no_finished_cell(corpus_file, tmp_path, monkeypatch):
    import errno

    import infoprune.store as store

    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")
    real, written = store.atomic_write_json, []

    def filling(path, obj):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        real(path, obj)

    monkeypatch.setattr(store, "atomic_write_json", filling)
    with pytest.raises(OSError, match="No space left"):
        run(cfg, log=lambda m: None)
    assert len(list((tmp_path / "out" / "cells").glob("*[0-9a-f].json"))) == 2
    monkeypatch.setattr(store, "atomic_write_json", real)  # space freed: the run resumes
    assert run(cfg, log=lambda m: None) == 0
    clean = tiny_config(corpus_file, tmp_path / "clean", tmp_path / "data")
    run(clean, log=lambda m: None)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "results.csv"),
                                  pd.read_csv(tmp_path / "clean" / "results.csv"))


def test_a_full_disk_is_one_clear_line_from_the_cli(tmp_path, capsys, monkeypatch):
    import errno

    import infoprune.prune as prune
    from bench.cli import main

    scores = tmp_path / "scores.csv"
    pd.DataFrame({"id": ["a#0", "b#0"], "source": ["s", "s"], "n_tokens": [1, 2], "n_bytes": [1, 2],
                  "text": ["a", "bb"], "length": [1.0, 2.0]}).to_csv(scores, index=False)

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(prune, "atomic_write_text", full)
    code = main(["prune", "--scores", str(scores), "--criterion", "length", "--ratio", "0.5",
                 "--out", str(tmp_path / "kept.jsonl")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: No space left on device: ")


def test_criterion_names_that_are_not_safe_file_names_are_refused():
    from infoprune.criterion import Criterion, register
    from infoprune.errors import CriterionError

    class Evil(Criterion):
        name = "../evil"

    with pytest.raises(CriterionError, match="has the name '../evil'"):
        register(Evil)


# --- the command line, with a preset small enough for a test ----------------------------------------


@pytest.fixture
def cli(monkeypatch, capsys):
    """`python -m bench` in this process, with a preset 'tiny' (conftest's tiny_config): (code, stdout, stderr)."""
    from bench import presets
    from bench.cli import main

    monkeypatch.setitem(presets.PRESETS, "tiny", tiny_config(Path("unset"), Path("unset"), Path("unset")))

    def call(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return call


def tiny_run(corpus: Path, out: Path, data: Path, *extra: str) -> list[str]:
    """One process (`--workers 1`): these tests patch the pipeline in this process, where workers would not see
    it. Workers have their own tests (test_workers.py)."""
    return ["run", "--preset", "tiny", "--corpus", f"jsonl:{corpus}", "--out", str(out), "--data-dir", str(data),
            "--workers", "1", *extra]


def one_error_line(err: str) -> str:
    """The message of a failed command: its last line, which must be the only one that is not a log line."""
    lines = [line for line in err.strip().splitlines() if not re.match(r"\[\s*\d+\.\d+s\] ", line)]
    assert len(lines) == 1, lines
    return lines[0]


BAD_CORPORA = {  # the file's bytes (None: no file), and what the one line says
    "empty": (b"", "no non-blank documents"),
    "blank-documents": (b'{"text": " "}\n{"text": "\\n\\t"}\n', "no non-blank documents"),
    "malformed-line": (b'{"text": "ok"}\n\n{"text": "no end}\n', "line 3 is not valid JSON"),
    "no-text-field": (b'{"body": "x"}\n', 'line 1 is not a JSON object with a string "text"'),
    "latin-1": ('{"text": "caf\xe9"}\n'.encode("latin-1"), "is not valid UTF-8 (byte 13)"),
    "gzip": (gzip.compress(b'{"text": "x"}\n'), "is binary, not text"),
    "utf-16": ('{"text": "hi"}\n'.encode("utf-16-le"), "is binary, not text (a NUL byte at byte 1)"),  # valid UTF-8
    "missing": (None, "cannot read"),
}


@pytest.mark.parametrize("kind", BAD_CORPORA)
def test_a_bad_corpus_file_is_one_line_naming_it_and_exit_2(cli, tmp_path, kind):
    data, expected = BAD_CORPORA[kind]
    corpus = tmp_path / f"{kind}.jsonl"
    if data is not None:
        corpus.write_bytes(data)
    code, _, err = cli(*tiny_run(corpus, tmp_path / "out", tmp_path / "data"))
    line = one_error_line(err)
    assert code == 2 and line.startswith("error: ") and expected in line, line
    if kind not in ("empty", "blank-documents"):
        assert str(corpus) in line


def test_a_binary_file_in_a_text_folder_is_one_line_naming_it(cli, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "good.txt").write_text("Some prose.")
    (folder / "notes.txt").write_bytes("UTF-16 without a byte-order mark".encode("utf-16-le"))
    code, _, err = cli("run", "--preset", "tiny", "--corpus", f"text:{folder}", "--out", str(tmp_path / "out"),
                       "--data-dir", str(tmp_path / "data"))
    line = one_error_line(err)
    assert code == 2 and f"{folder / 'notes.txt'} is binary, not text" in line


@pytest.mark.parametrize(
    "criteria,expected",
    [
        ("length:unit", "bad criterion parameter 'unit' in 'length:unit'; write name:key=value"),
        ("unit=bytes,length", "parameter 'unit=bytes' comes before any criterion name"),
        ("length:colour=red", "length: unknown parameter 'colour'"),
        ("length:unit=miles", "length: unit must be one of tokens, bytes"),
        ("length,length", "a criterion is listed twice"),
        (",", "no criteria given"),
        ("Length", "unknown criterion 'Length'"),
    ],
)
def test_a_bad_criterion_parameter_or_its_syntax_is_one_line_and_exit_2(cli, tmp_path, criteria, expected):
    code, _, err = cli(*tiny_run(tmp_path / "unused.jsonl", tmp_path / "out", tmp_path / "d"), "--criteria", criteria)
    line = one_error_line(err)
    assert code == 2 and line.startswith("error: ") and expected in line, line


def test_unusable_folders_are_one_line_and_exit_2(cli, tmp_path, corpus_file):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = cli(*tiny_run(corpus_file, blocker / "out", tmp_path / "data"))
    assert code == 2 and "cannot write to output folder" in one_error_line(err)
    code, _, err = cli("report", str(tmp_path / "never-written"))
    assert code == 2 and "does not exist" in one_error_line(err)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_cli_exits_130_with_one_line_keeps_finished_cells_and_resumes(cli, corpus_file, tmp_path, sig):
    out, data = tmp_path / "out", tmp_path / "data"
    argv = tiny_run(corpus_file, out, data, "--criteria", "random,length", "--seeds", "2")
    script = textwrap.dedent(f"""
        import runpy, signal, sys, time
        # A shell starts background jobs with SIGINT ignored, and Python keeps an inherited SIG_IGN: restore
        # what a terminal's Ctrl-C meets, so the test means the same however the suite was launched.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, {str(TESTS)!r})
        from pathlib import Path
        from conftest import tiny_config
        from bench import presets
        import infoprune.pipeline as pipeline
        presets.PRESETS["tiny"] = tiny_config(Path("unset"), Path("unset"), Path("unset"))
        real, calls = pipeline.train, []

        def train(*args, **kwargs):  # the third cell waits here, mid-cell, for the signal: no race on a busy machine
            calls.append(1)
            if len(calls) == 3:
                time.sleep(300)
            return real(*args, **kwargs)

        pipeline.train = train
        sys.argv = ["bench", *{argv!r}]
        runpy.run_module("bench", run_name="__main__", alter_sys=True)  # exactly `python -m bench run ...`
    """)
    with open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", script], stderr=stderr, env=ONE_THREAD)
        try:
            deadline = time.time() + 120
            while time.time() < deadline and len(cell_files(out)) < 2 and proc.poll() is None:
                time.sleep(0.02)
            proc.send_signal(sig)
            assert proc.wait(timeout=60) == 130, (tmp_path / "stderr").read_text()
        finally:
            proc.kill()  # never leave a child waiting in its sleep when the test fails
    err = (tmp_path / "stderr").read_text()
    assert "Traceback" not in err
    assert one_error_line(err) == "interrupted: finished cells are saved; run the same command again to resume"
    kept = {p.name: p.read_bytes() for p in cell_files(out)}
    assert len(kept) == 2, "the interrupt lands in the third cell"
    assert not (out / ".lock").exists() and not list(out.rglob(".*.tmp"))

    code, _, err = cli(*argv)  # the same command resumes: the finished cells are kept as they were
    assert code == 0
    assert {p.name: p.read_bytes() for p in cell_files(out) if p.name in kept} == kept
    resumed = pd.read_csv(out / "results.csv")
    assert len(cell_files(out)) == 6 and len(resumed.groupby(["criterion", "ratio", "seed"])) == 6
    assert not resumed.duplicated(["criterion", "ratio", "seed", "metric"]).any()
    code, _, _ = cli(*tiny_run(corpus_file, tmp_path / "clean", tmp_path / "clean-data", *argv[11:]))
    assert code == 0
    pd.testing.assert_frame_equal(resumed, pd.read_csv(tmp_path / "clean" / "results.csv"))

    # The manifest records a seed per random stream, distinct, and every cell used its seed's streams.
    manifest = json.loads((out / "manifest.json").read_text())
    streams = manifest["seed_streams"]
    assert sorted(streams) == ["0", "1"]
    assert all(sorted(s) == ["data_order", "diagnose", "init", "selection"] for s in streams.values())
    values = [v for s in streams.values() for v in s.values()]
    assert len(set(values)) == len(values)
    for path in cell_files(out):
        record = json.loads(path.read_text())
        assert record["seeds"] == streams[str(record["seed"])]

    # Bad input on a finished run folder: one line, exit 2, and nothing in it lost or changed.
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": oops}\n')
    code, _, err = cli(*tiny_run(bad, out, data, "--criteria", "random,length", "--seeds", "2"))
    assert code == 2 and f"{bad} line 2 is not valid JSON" in one_error_line(err)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    # Run and cache folders hold only names made by the suite: hashes and registered criterion names.
    for root in (out, data):
        for path in root.rglob("*"):
            assert re.fullmatch(r"[A-Za-z0-9._-]+", path.name), path


def test_a_plugin_that_raises_or_returns_nan_fails_its_cells_only_and_the_cli_exits_1(cli, corpus_file, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setitem(REGISTRY.entries, "exploding", Exploding)
    monkeypatch.setitem(REGISTRY.entries, "nan-scores", NotANumber)
    out = tmp_path / "out"
    code, table, err = cli(*tiny_run(corpus_file, out, tmp_path / "data", "--criteria", "exploding,length,nan-scores"))
    assert code == 1 and "2 cells failed" in err
    assert "| exploding | failed |" in table and "| nan-scores | failed |" in table and "| length | 3." in table
    failures = {json.loads(p.read_text())["cell"]: json.loads(p.read_text()) for p in (out / "cells").glob("*.failed.json")}
    assert sorted(failures) == ["exploding", "nan-scores"]
    assert "RuntimeError: boom" in failures["exploding"]["traceback"] and "NaN" in failures["nan-scores"]["error"]
    assert set(pd.read_csv(out / "results.csv").criterion) == {"full", "length"}


# --- a single 10 MB document ---------------------------------------------------------------------------


def _kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))


def ten_megabytes() -> str:
    rng = np.random.default_rng(0)
    words = np.asarray(WORDS)[rng.integers(len(WORDS), size=2_500_000)]
    lines = [" ".join(words[i : i + 16]) + "." for i in range(0, len(words), 16)]
    text = "\n".join(lines)
    assert len(text) > 10_000_000
    return text[:10_000_000]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures peak memory through /proc")
def test_a_10_mb_document_is_cut_into_samples_in_linear_time_and_memory(cli, tmp_path, monkeypatch):
    """One 10 MB document runs like any other: it is chunked into samples of one context each, which
    are scored, pruned and trained on. Chunking it costs time and memory in proportion to its size.

    Measured on 2 busy cores with the tiny test model (vocabulary 300, context 32): 5.5M tokens, 171k
    samples, 5 s of CPU and ~350 MB at peak (most of it the samples); encoded whole, the same text
    took 1.9 GB before chunking started.
    """
    docs = make_documents(120)
    split = DataConfig(ood="letters/work3")
    pool_docs = sorted(unit_hash(d.id, 1) for d in docs if band(d, split) == "pool")
    # An id in the pool band, taken third in the pool's byte budget: the pool is it and a few others.
    big_id = next(f"huge/book/{i:05d}" for i in range(100_000)
                  if band(Document(f"huge/book/{i:05d}", "huge", ""), split) == "pool"
                  and pool_docs[1] < unit_hash(f"huge/book/{i:05d}", 1) < pool_docs[2])
    text = ten_megabytes()
    corpus = write_jsonl(tmp_path / "big.jsonl", docs + [Document(big_id, "huge", text)])

    real, measured = pipeline.chunk, {}

    def measuring(documents, tok, seq_len, max_bytes=None):
        if not any(d.id == big_id for d in documents):
            return real(documents, tok, seq_len, max_bytes)
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident size
        rss, cpu = _kib("VmRSS"), time.process_time()
        samples = real(documents, tok, seq_len, max_bytes)
        measured.update(cpu=time.process_time() - cpu, peak_mb=(_kib("VmHWM") - rss) / 1024, samples=samples)
        cpu = time.process_time()
        real([Document("one/mb/0", "huge", text[:1_000_000])], tok, seq_len)
        measured["cpu_1mb"] = time.process_time() - cpu
        return samples

    monkeypatch.setattr(pipeline, "chunk", measuring)
    code, _, _ = cli(*tiny_run(corpus, tmp_path / "out", tmp_path / "data", "--criteria", "random,length"))
    assert code == 0
    print(f"10 MB document: chunked in {measured['cpu']:.1f} s CPU (1 MB: {measured['cpu_1mb']:.2f} s), "
          f"{measured['peak_mb']:.0f} MB at peak")
    big = [s for s in measured["samples"] if s.id.startswith(big_id + "#")]
    assert len(big) < len(measured["samples"])  # other documents share the pool
    assert [s.id for s in big] == [f"{big_id}#{k}" for k in range(len(big))]
    assert all(len(s.tokens) == 32 for s in big[:-1]) and 1 <= len(big[-1].tokens) <= 32
    assert "".join(s.text for s in big) == text and sum(s.n_bytes for s in big) == len(text)
    assert measured["peak_mb"] < 800  # encoding the 10 MB whole peaked at 1.9 GB
    assert measured["cpu"] < 30 * max(measured["cpu_1mb"], 0.05)  # linear: ~10x the 1 MB document
    frame = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(frame.groupby(["criterion", "ratio", "seed"])) == 3
    split = json.loads((tmp_path / "out" / "manifest.json").read_text())["split"]["pool"]
    assert split["bytes"] >= len(text) and split["samples"] == len(measured["samples"])


def test_encoding_in_pieces_gives_exactly_the_ids_of_the_whole_text(monkeypatch):
    import infoprune.samples as samples
    from infoprune.samples import encoding_pieces, token_ids
    from infoprune.tokenizer import train_tokenizer

    rng = np.random.default_rng(1)
    alphabet = [*"abcxyz ABC019'.,;-", *[" "] * 6, "\n", "\t", "\r\n", "\x1c", "\x85", "\u2028", "\u00a0",
                "\u3000", "\u200b", "é", "日本", "🙂", "'s", "'ll", "<|endoftext|>", "  "]
    texts = ["".join(rng.choice(alphabet, size=int(n))) for n in rng.integers(0, 2_000, size=60)]
    tok = train_tokenizer(make_documents(40) + [Document("x/x/0", "x", "".join(texts))], 300)
    for text in texts:
        pieces = list(encoding_pieces(text, 40))
        assert "".join(pieces) == text and all(len(p) <= 40 for p in pieces)
        whole = tok.encode(text, add_special_tokens=False).ids
        # Every cut falls before a space after a non-space, unless 40 characters had no such place.
        if all(p[0] == " " and not q[-1].isspace() for q, p in itertools.pairwise(pieces)):
            assert [i for p in pieces for i in tok.encode(p, add_special_tokens=False).ids] == whole
    docs = [Document(f"d/{i}", "d", t) for i, t in enumerate(texts)]

    def encode(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False).ids

    assert [ids.tolist() for ids in token_ids(docs, tok)] == [encode(t) for t in texts]
    # Many pieces in many batches: each document gets its own pieces' ids back, in order.
    monkeypatch.setattr(samples, "PIECE_CHARS", 50)
    monkeypatch.setattr(samples, "BATCH_CHARS", 300)
    expected = [[i for p in encoding_pieces(t, 50) for i in encode(p)] for t in texts]
    assert [ids.tolist() for ids in token_ids(docs, tok)] == expected


# --- checksums, run ids, seeds, determinism -----------------------------------------------------------


def test_a_cache_entry_from_before_checksums_is_said_to_have_none_and_recomputed(corpus_file, tmp_path, monkeypatch):
    import infoprune.embed as embed

    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data", criteria="length")
    data = tmp_path / "data"
    monkeypatch.setattr(embed, "embed_texts", lambda texts: np.ones((len(texts), embed.DIM), np.float32) / 8)
    pipe = Pipeline(cfg, log=lambda m: None)
    first = pipe.scores(CriterionSpec("length"), 0)
    vectors, _ = embed.embed_samples(pipe.samples["pool"], data, lambda m: None)
    for sidecar in data.rglob("*.sha256"):
        sidecar.unlink()  # as the entries an older version wrote
    logs: list[str] = []
    pipe = Pipeline(cfg, log=logs.append)
    assert (pipe.scores(CriterionSpec("length"), 0) == first).all()
    assert (embed.embed_samples(pipe.samples["pool"], data, logs.append)[0] == vectors).all()
    warnings = [m for m in logs if m.startswith("warning:")]
    assert len(warnings) == 3, warnings  # tokenizer, scores, embeddings
    assert all("has no checksum" in m and "corrupt" not in m for m in warnings), warnings
    assert {p.parent.name for p in data.rglob("*.sha256")} == {"tokenizers", "scores", "embeddings"}  # rewritten
    (scores,) = data.glob("scores/*.npy")
    raw = bytearray(scores.read_bytes())
    raw[-1] ^= 0xFF
    scores.write_bytes(bytes(raw))
    logs.clear()
    Pipeline(cfg, log=logs.append).scores(CriterionSpec("length"), 0)
    assert [m for m in logs if m.startswith("warning:")] == [f"warning: score cache {scores} fails its checksum (corrupt); recomputing"]


def test_the_run_id_changes_with_everything_that_changes_results_and_nothing_else(corpus_file, tmp_path):
    cfg = tiny_config(corpus_file, tmp_path / "out", tmp_path / "data")

    def run_id(c) -> str:
        return Pipeline(c, log=lambda m: None).run_key

    changed = {
        "lr": replace(cfg, train=replace(cfg.train, lr=cfg.train.lr / 2)),
        "budget": replace(cfg, train=replace(cfg.train, budget="tokens:4096")),
        "width": replace(cfg, model=replace(cfg.model, d_model=64)),
        "vocab": replace(cfg, model=replace(cfg.model, vocab_size=400)),
        "pool": replace(cfg, data=replace(cfg.data, pool_bytes=20_000)),
        "split": replace(cfg, data=replace(cfg.data, split_seed=1)),
        "ood": replace(cfg, data=replace(cfg.data, ood="tales")),
        "probe": replace(cfg, probe="pool"),
        "probe seed": replace(cfg, probe_seed=1),
        "probe training": replace(cfg, probe_train=replace(cfg.probe_train, batch_size=8)),
        "precision": replace(cfg, train=replace(cfg.train, precision="bf16")),
    }
    ids = {name: run_id(c) for name, c in changed.items()}
    other_text = write_jsonl(tmp_path / "other.jsonl", make_documents(seed=1))
    ids["corpus content"] = run_id(replace(cfg, data=replace(cfg.data, corpus=f"jsonl:{other_text}")))
    base = run_id(cfg)
    assert base not in ids.values() and len(set(ids.values())) == len(ids)
    # Where things are written, and which cells are asked for, are not the run's identity (each cell has its own key).
    same = [replace(cfg, out=str(tmp_path / "elsewhere"), data_dir=str(tmp_path / "other-cache")),
            replace(cfg, seeds=(0, 1), ratios=(0.25, 0.5))]
    assert {run_id(c) for c in same} == {base}
    pipe = Pipeline(cfg, log=lambda m: None)
    more = Pipeline(replace(cfg, seeds=(0, 1)), log=lambda m: None)
    assert pipe.cell_key(Cell(None, 0.0, 0)) == more.cell_key(Cell(None, 0.0, 0))
    assert more.cell_key(Cell(None, 0.0, 0)) != more.cell_key(Cell(None, 0.0, 1))


def test_the_same_config_twice_gives_identical_scores_selections_and_metrics(corpus_file, tmp_path):
    criteria = "random,information"
    pipes = []
    for name in ("first", "second"):
        cfg = tiny_config(corpus_file, tmp_path / f"out-{name}", tmp_path / f"data-{name}", criteria=criteria,
                          seeds=(0, 1))
        assert run(cfg, log=lambda m: None) == 0
        pipes.append(Pipeline(cfg, log=lambda m: None))
    first, second = (tmp_path / "data-first", tmp_path / "data-second")
    scores = {p.name: p.read_bytes() for p in sorted(first.glob("scores/*.npy"))}
    assert len(scores) == 3  # random for each seed, information
    assert scores == {p.name: p.read_bytes() for p in sorted(second.glob("scores/*.npy"))}
    kept = {}
    for cell in pipes[0].cells():
        first_ids, second_ids = ([s.id for s in pipe.kept(cell)] for pipe in pipes)
        assert first_ids == second_ids, cell
        kept[cell.label, cell.seed] = first_ids
    assert kept["random", 0] != kept["random", 1]  # the selection stream differs between seeds
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out-first" / "results.csv"),
                                  pd.read_csv(tmp_path / "out-second" / "results.csv"), check_exact=True)
    records = [{json.loads(p.read_text())["key"]: json.loads(p.read_text()) for p in cell_files(tmp_path / f"out-{n}")}
               for n in ("first", "second")]
    for key, record in records[0].items():
        other = records[1][key]
        for field in ("metrics", "seeds", "kept_samples", "kept_tokens"):
            assert record[field] == other[field], field
        assert record.get("train", {}).get("curve") == other.get("train", {}).get("curve")  # the loss, step by step


# --- security ------------------------------------------------------------------------------------------

SOURCES = [p for folder in ("infoprune", "bench", "criteria") for p in sorted((ROOT / folder).rglob("*.py"))]


def calls(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func), {k.arg: k.value for k in node.keywords if k.arg}


def test_no_pickle_no_shell_no_remote_code_and_plugins_only_from_entry_points():
    assert len(SOURCES) > 30
    problems = []
    for path in SOURCES:
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"):
                    problems.append(f"{where}: imports {name}")
        for node, func, kw in calls(path):
            if func in ("eval", "exec", "compile", "__import__", "os.system", "os.popen", "os.execv", "os.execvp",
                        "subprocess.getoutput", "subprocess.getstatusoutput", "torch.load", "spec_from_file_location",
                        "importlib.util.spec_from_file_location", "runpy.run_path"):
                problems.append(f"{where}:{node.lineno}: calls {func}")
            for flag in ("shell", "trust_remote_code", "allow_pickle", "weights_only"):
                if flag in kw and not (isinstance(kw[flag], ast.Constant) and kw[flag].value is (flag == "weights_only")):
                    problems.append(f"{where}:{node.lineno}: {func}({flag}={ast.unparse(kw[flag])})")
            # A command is an argument list, never a string for a shell to split (`_run` is _fetch's wrapper).
            if (func.startswith("subprocess.") or func == "_run") and node.args and (
                    isinstance(node.args[0], (ast.JoinedStr, ast.BinOp))
                    or isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                problems.append(f"{where}:{node.lineno}: {func} with a command string")
            if func == "_run" and not isinstance(node.args[0], ast.List):
                problems.append(f"{where}:{node.lineno}: _run with a command that is not a literal list")
            if func.endswith("np.load") and "allow_pickle" not in kw:
                problems.append(f"{where}:{node.lineno}: np.load without allow_pickle=False")
            if (func.endswith("from_pretrained") and "Model" in func and "use_safetensors" not in kw
                    and "gguf_file" not in kw):
                problems.append(f"{where}:{node.lineno}: {func} may load pickled weights")
            if func in ("importlib.import_module", "import_module"):
                arg = node.args[0] if node.args else None
                fixed = isinstance(arg, ast.Constant) or (  # a literal, or a module of the suite's own packages
                    isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant)
                    and arg.values[0].value in ("criteria.", "infoprune.sources."))
                if not fixed:
                    problems.append(f"{where}:{node.lineno}: imports a module by a computed name")
            if func == "entry_points" and not (isinstance(kw.get("group"), ast.Constant)
                                               and kw["group"].value == "infoprune.criteria"):
                problems.append(f"{where}:{node.lineno}: entry points outside the infoprune.criteria group")
    assert not problems, "\n".join(problems)

