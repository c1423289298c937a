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
