"""torchrun on CPU (gloo): N processes score exactly as one does, train to the same curve, and fail as one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config
from infoprune.distributed import World
from infoprune.runbook import run

WORKER = Path(__file__).with_name("dist_worker.py")
CRITERIA = "random,length,information,perplexity"  # as in dist_worker.py


def torchrun(n: int, *args: object) -> subprocess.CompletedProcess:
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parent)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           str(WORKER), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def cells(out: Path) -> dict[tuple, dict]:
    found = {}
    for path in (out / "cells").glob("*.json"):
        rec = json.loads(path.read_text())
        if "metrics" in rec:
            found[(rec["criterion"], rec["ratio"], rec["seed"])] = rec
    return found


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """A one-process run; its data cache (corpus, tokenizer, probe) is what the torchrun runs start from."""
    from conftest import make_documents, write_jsonl

    root = tmp_path_factory.mktemp("dist")
    corpus = write_jsonl(root / "corpus.jsonl", make_documents())
    assert run(tiny_config(corpus, root / "out1", root / "data1", criteria=CRITERIA), lambda m: None) == 0
    return root, corpus


def data_without_scores(root: Path, name: str) -> Path:
    """A copy of the single run's cache less its scores, so the torchrun run scores the pool anew.

    The probe is shared on purpose: a probe trained on N processes differs from one trained on one in
    the last bits, and this test compares the scoring, not the probe.
    """
    dst = root / name
    shutil.copytree(root / "data1", dst, ignore=shutil.ignore_patterns("scores"))
    return dst


@pytest.mark.parametrize("n", [2, 3])
def test_n_processes_give_the_single_process_scores_and_training(single, n):
    root, corpus = single
    out = root / f"out{n}"
    done = torchrun(n, corpus, out, data_without_scores(root, f"data{n}"))
    assert done.returncode == 0, done.stderr[-3000:]

    one, many = pd.read_parquet(root / "out1" / "scores.parquet"), pd.read_parquet(out / "scores.parquet")
    pd.testing.assert_frame_equal(one, many, check_exact=True)  # bit for bit, with uneven shards at n=3
    a, b = cells(root / "out1"), cells(out)
    assert a.keys() == b.keys() and len(a) == 5
    for key in a:
        assert a[key]["kept_mask"] == b[key]["kept_mask"], key
        curve_a = np.array([loss for _, loss in a[key]["train"]["curve"]])
        curve_b = np.array([loss for _, loss in b[key]["train"]["curve"]])
        assert a[key]["train"]["steps"] == b[key]["train"]["steps"]  # the global batch and budget are kept
        np.testing.assert_allclose(curve_a, curve_b, rtol=1e-3, err_msg=str(key))
        for metric in ("bpb/in_domain", "bpb/ood"):
            assert abs(a[key]["metrics"][metric] - b[key]["metrics"][metric]) < 1e-3, (key, metric)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["machine"]["processes"] == n


def test_one_failing_rank_fails_the_job_and_writes_no_results(single):
    root, corpus = single
    out = root / "out-fail"
    done = torchrun(2, corpus, out, data_without_scores(root, "data-fail"), 1)
    assert done.returncode != 0
    assert "rank 1 fails on purpose" in done.stderr
    assert not (out / "results.csv").exists() and not (out / "scores.parquet").exists()


def test_owned_work_covers_every_item_once_for_any_world_size():
    for size in (1, 2, 3, 7):
        shares = [World(rank, size).owned(10) for rank in range(size)]
        assert sorted(i for share in shares for i in share) == list(range(10))
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_torchrun_bench_run_writes_one_run_folder_from_rank_0(single):
    """The CLI itself under torchrun: one log, one report, one run folder, resumable like any run."""
    root, corpus = single
    out = root / "out-cli"
    args = ["cli", "run", "--preset", "tiny", "--corpus", f"jsonl:{corpus}", "--criteria", "random,length",
            "--device", "cpu", "--out", out, "--data-dir", data_without_scores(root, "data-cli")]
    done = torchrun(2, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("preset test:") == 1 and "on 2 processes" in done.stderr  # rank 0 speaks alone
    assert done.stdout and done.stdout.count(done.stdout.splitlines()[0]) == 1 and (out / "results.csv").exists()
    assert json.loads((out / "manifest.json").read_text())["machine"]["processes"] == 2
    again = torchrun(2, *args)
    assert again.returncode == 0 and "3 already done, 0 to run" in again.stderr


def test_the_slurm_script_starts_one_torchrun_per_node_with_one_rendezvous(tmp_path):
    """bench/slurm.sbatch with stand-ins for scontrol and srun: the torchrun command line it builds."""
    for name, body in (("scontrol", 'printf "gpu-a\\ngpu-b\\n"'), ("srun", 'printf "%s\\n" "$@"')):
        (tmp_path / name).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / name).chmod(0o755)
    env = os.environ | {"PATH": f"{tmp_path}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "gpu-[a-b]",
                        "SLURM_JOB_NUM_NODES": "2", "SLURM_GPUS_PER_NODE": "h100:8", "SLURM_JOB_ID": "42"}
    script = Path(__file__).parents[1] / "bench" / "slurm.sbatch"
    done = subprocess.run(["bash", str(script), "--preset", "paper", "--out", "runs/paper"], env=env,
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    argv = done.stdout.split()
    assert argv[0] == ".venv/bin/torchrun"
    assert argv[argv.index("--nnodes") + 1] == "2" and argv[argv.index("--nproc_per_node") + 1] == "8"
    assert argv[argv.index("--rdzv_endpoint") + 1] == "gpu-a:29500" and argv[argv.index("--rdzv_id") + 1] == "42"
    assert argv[argv.index("-m") + 1:] == ["bench", "run", "--device", "cuda", "--preset", "paper", "--out", "runs/paper"]
    from bench.cli import parser

    assert parser().parse_args(argv[argv.index("-m") + 2:]).preset == "paper"  # the suite's CLI accepts it


@pytest.mark.slow
def test_compiled_training_under_torchrun_matches_eager(single):
    """DistributedDataParallel around the compiled objective: the same cells as eager, to rounding (~30 s)."""
    root, corpus = single
    bpb = {}
    for mode in ("on", "off"):
        out = root / f"out-compile-{mode}"
        done = torchrun(2, "cli", "run", "--preset", "tiny", "--corpus", f"jsonl:{corpus}", "--criteria", "random",
                        "--device", "cpu", "--tasks", "none", "--compile", mode, "--out", out,
                        "--data-dir", root / "data1")
        assert done.returncode == 0, done.stderr[-3000:]
        found = cells(out)
        assert all(rec["train"]["compiled"] == (mode == "on") for rec in found.values())
        bpb[mode] = {key: rec["metrics"]["bpb/in_domain"] for key, rec in found.items()}
    assert bpb["on"].keys() == bpb["off"].keys() and len(bpb["on"]) == 2
    for key in bpb["on"]:
        assert abs(bpb["on"][key] - bpb["off"][key]) < 1e-4, key
