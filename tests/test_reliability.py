"""Nothing lost on interrupt, one run per folder, and a clear line for folders that cannot be used."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import tiny_config

from infoprune.errors import UserError
from infoprune.pipeline import run
from infoprune.store import RunStore

TESTS = Path(__file__).parent


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


SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from conftest import tiny_config
    from infoprune.pipeline import run
    cfg = tiny_config(Path({corpus!r}), Path({out!r}), Path({data!r}), seeds=(0, 1, 2))
    run(cfg, log=lambda m: None)
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_resumes_to_the_same_results(corpus_file, tmp_path, sig):
    out, data = tmp_path / "out", tmp_path / "data"
    script = SCRIPT.format(tests=str(TESTS), corpus=str(corpus_file), out=str(out), data=str(data))
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "cells").glob("*[0-9a-f].json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    finished = len(list((out / "cells").glob("*[0-9a-f].json")))
    assert 3 <= finished < 12, "the kill should land mid-run"
    cfg = tiny_config(corpus_file, out, data, seeds=(0, 1, 2))
    assert run(cfg, log=lambda m: None) == 0  # the lock of a killed run is stale, so this resumes
    resumed = pd.read_csv(out / "results.csv")
    assert not resumed.duplicated(["criterion", "ratio", "seed", "metric"]).any()
    assert len(resumed.groupby(["criterion", "ratio", "seed"])) == 12
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
