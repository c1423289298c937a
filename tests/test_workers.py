"""`--workers`: cells measured in worker processes give the numbers of one process; a criterion that exists in
the main process alone still runs; a failure stays with its cells; a killed worker or a killed run loses only
the cells in flight, and the run resumes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Exploding, tiny_config
from test_downstream_run import items
from test_harness import write_task

from bench.presets import parse_workers
from infoprune.criterion import REGISTRY, Criterion
from infoprune.errors import UserError
from infoprune.runbook import run

TESTS = Path(__file__).parent
ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}


class Shortest(Criterion):
    """Registered in the test process alone: a spawned worker could not build it."""

    name = "shortest"
    keeps = "short samples"

    def score(self, samples, ctx):
        return -np.array([len(s.tokens) for s in samples], dtype=float)


def finished(out: Path) -> list[Path]:
    return [p for p in (out / "cells").glob("*.json") if not p.name.endswith(".failed.json")]


def cells_of(out: Path) -> dict[str, dict]:
    """The finished cells by key, less their timings."""
    cells = {}
    for path in finished(out):
        record = json.loads(path.read_text())
        cells[record["key"]] = {k: v for k, v in record.items() if k not in ("seconds", "sha256")}
    return cells


def test_two_workers_give_the_cells_of_one_process(corpus_file, tmp_path):
    data = tmp_path / "data"
    write_task(data, "wordnet_define", items(24, 0))
    logs: dict[int, list[str]] = {1: [], 2: []}
    for workers in (1, 2):
        cfg = tiny_config(corpus_file, tmp_path / f"out-{workers}", data, ratios=(0.25, 0.5), seeds=(0, 1),
                          tasks=("wordnet_define",), workers=workers)
        assert run(cfg, log=logs[workers].append) == 0
    assert "2 worker processes, 1 torch thread each" in logs[2]
    assert not any("worker process" in m for m in logs[1])
    one, two = (pd.read_csv(tmp_path / f"out-{w}" / "results.csv") for w in (1, 2))
    assert len(one.groupby(["criterion", "ratio", "seed"])) == 14 and (one.metric == "downstream/acc_norm").any()
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert cells_of(tmp_path / "out-1") == cells_of(tmp_path / "out-2")  # kept masks and curves too


def test_a_criterion_of_the_main_process_alone_runs_and_a_failing_one_fails_only_its_cells(corpus_file, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setitem(REGISTRY.entries, "shortest", Shortest)
    monkeypatch.setitem(REGISTRY.entries, "exploding", Exploding)
    out = tmp_path / "out"
    cfg = tiny_config(corpus_file, out, tmp_path / "data", criteria="exploding,shortest", ratios=(0.25, 0.5),
                      workers=2)
    assert run(cfg, log=lambda m: None) == 2
    assert set(pd.read_csv(out / "results.csv").criterion) == {"full", "shortest"}
    failures = [json.loads(p.read_text()) for p in (out / "cells").glob("*.failed.json")]
    assert sorted(f["cell"] for f in failures) == ["exploding", "exploding"]
    assert all("RuntimeError: boom" in f["traceback"] for f in failures)


RUN_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from conftest import tiny_config
    from infoprune.runbook import run

    cfg = tiny_config(Path({corpus!r}), Path({out!r}), Path({data!r}), ratios=(0.25, 0.5, 0.75), seeds=(0, 1, 2),
                      workers=2)
    sys.exit(run(cfg, log=lambda m: print(m, flush=True)))
""")
CELLS = 1 * 3 + 3 * 3 * 3  # the full cell and three criteria, at three ratios and three seeds


def start(corpus: Path, out: Path, data: Path) -> subprocess.Popen:
    script = RUN_SCRIPT.format(tests=str(TESTS), corpus=str(corpus), out=str(out), data=str(data))
    return subprocess.Popen([sys.executable, "-c", script], env=ONE_THREAD, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def workers_of(pid: int) -> list[int]:
    """The spawned worker processes of `pid` (not multiprocessing's resource tracker)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def clean_run(corpus: Path, tmp_path: Path) -> pd.DataFrame:
    cfg = tiny_config(corpus, tmp_path / "clean", tmp_path / "clean-data", ratios=(0.25, 0.5, 0.75), seeds=(0, 1, 2))
    assert run(cfg, log=lambda m: None) == 0
    return pd.read_csv(tmp_path / "clean" / "results.csv")


def test_a_killed_worker_fails_only_its_cell_and_a_rerun_completes_the_run(corpus_file, tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    proc = start(corpus_file, out, data)
    wait_for(lambda: len(finished(out)) >= 2)
    workers = workers_of(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr
    failed = [json.loads(p.read_text()) for p in (out / "cells").glob("*.failed.json")]
    assert proc.returncode == len(failed) <= 1, stdout  # one cell, unless the worker was between cells
    assert all("worker process died with exit code -9" in f["error"] for f in failed)
    assert len(finished(out)) == CELLS - len(failed)
    cfg = tiny_config(corpus_file, out, data, ratios=(0.25, 0.5, 0.75), seeds=(0, 1, 2), workers=2)
    assert run(cfg, log=lambda m: None) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), clean_run(corpus_file, tmp_path))


def test_a_killed_run_leaves_whole_cells_and_no_worker_behind_and_resumes(corpus_file, tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    proc = start(corpus_file, out, data)
    wait_for(lambda: len(finished(out)) >= 2)
    workers = workers_of(proc.pid)
    proc.kill()
    proc.communicate(timeout=60)
    wait_for(lambda: not any(alive(w) for w in workers), timeout=60)  # each finishes its cell, sees, and stops
    assert not list(out.rglob(".*.tmp"))
    cfg = tiny_config(corpus_file, out, data, ratios=(0.25, 0.5, 0.75), seeds=(0, 1, 2), workers=2)
    logs: list[str] = []
    assert run(cfg, log=logs.append) == 0
    done = int(next(m for m in logs if m.startswith("run ")).split(", ")[1].split()[0])
    assert 2 <= done < CELLS
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), clean_run(corpus_file, tmp_path))


def test_ctrl_c_stops_the_workers_keeps_finished_cells_and_says_one_line(corpus_file, tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    script = textwrap.dedent(f"""
        import runpy, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's Ctrl-C meets it
        sys.path.insert(0, {str(TESTS)!r})
        from dataclasses import replace
        from pathlib import Path
        from conftest import tiny_config
        from bench import presets
        from infoprune.config import TrainConfig
        presets.PRESETS["tiny"] = replace(tiny_config(Path("unset"), Path("unset"), Path("unset")),
                                          train=TrainConfig(budget="tokens:40000", batch_size=4, precision="fp32"))
        sys.argv = ["bench", "run", "--preset", "tiny", "--corpus", "jsonl:{corpus_file}", "--out", "{out}",
                    "--data-dir", "{data}", "--criteria", "random,length", "--seeds", "3", "--workers", "2"]
        runpy.run_module("bench", run_name="__main__", alter_sys=True)
    """)
    # A group of its own: a terminal's Ctrl-C reaches every process of the foreground group, workers included.
    proc = subprocess.Popen([sys.executable, "-c", script], env=ONE_THREAD, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_for(lambda: len(finished(out)) >= 2)
        workers = workers_of(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "warn" not in err, err
    assert err.strip().splitlines()[-1] == "interrupted: finished cells are saved; run the same command again to resume"
    assert len(workers) == 2 and not any(alive(w) for w in workers)
    assert 2 <= len(finished(out)) < 1 + 3 * 3 and not list(out.rglob(".*.tmp"))


@pytest.mark.parametrize("text", ["0", "-1", "two", ""])
def test_a_bad_worker_count_is_one_clear_error(text):
    with pytest.raises(UserError, match="--workers .*: give a number of processes"):
        parse_workers(text, "cpu")


def test_auto_takes_one_worker_per_core_on_cpu_and_one_on_a_gpu_or_under_torchrun(monkeypatch):
    from bench import presets

    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    cores = len(os.sched_getaffinity(0))
    assert parse_workers("auto", "cpu") == max(1, min(cores, memory // presets.WORKER_MEMORY))
    assert parse_workers("3", "cpu") == 3
    monkeypatch.setattr(presets, "WORKER_MEMORY", 1 << 50)  # more than any machine has: memory allows one
    assert parse_workers("auto", "cpu") == 1
    assert parse_workers("auto", "cuda") == 1
    with pytest.raises(UserError, match="on GPUs run one process per GPU with torchrun"):
        parse_workers("2", "cuda")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert parse_workers("auto", "cpu") == 1
    with pytest.raises(UserError, match="do not mix"):
        parse_workers("2", "cpu")
