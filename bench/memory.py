"""`python -m bench memory`: peak memory of prune-corpus as the pool grows, beside the in-memory `bench score`.

It writes a synthetic JSON-lines corpus at several sizes (1x, 2x, 5x, 10x a base by default), runs each
command on each size in a fresh process, and records each process's peak resident set. The sizes differ
only in their pool: every document added beyond the base falls in the pool band, so the probe slice, the
tokenizer and the probe are the same at every size. One unmeasured warm-up run trains them into a shared
cache first, so every measured run does the same work apart from the pool: read, chunk, score, select.

Peak RSS comes from getrusage(RUSAGE_CHILDREN) in a small wrapper process around each command, never in
this one: Linux starts a child's ru_maxrss from its parent's when the child is spawned with vfork (as
subprocess does), so a child of a large parent would report the parent's size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WRAPPER = ("import json, resource, subprocess, sys; rc = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL, "
           "stderr=open(sys.argv[1] + '.log', 'w')); json.dump({'rc': rc, 'maxrss_kb': "
           "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, open(sys.argv[1], 'w'))")
VOCAB = 5000  # synthetic words with Zipfian frequencies, so the probe has something to learn


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="results/memory", help="folder for memory.json and memory.png")
    p.add_argument("--base-docs", type=int, default=600, help="documents of the 1x corpus (~2 kB each)")
    p.add_argument("--sizes", default="1,2,5,10", help="pool sizes, as multiples of the base corpus's pool")
    p.add_argument("--preset", default="smoke", help="preset of both commands (model and probe slice)")
    p.add_argument("--criteria", default="information,length", help="criteria both commands score")
    p.add_argument("--shard-docs", type=int, default=500, help="prune-corpus's documents per shard")
    p.add_argument("--skip-in-memory", action="store_true", help="measure prune-corpus only, not 'bench score'")


def main(args: argparse.Namespace) -> int:
    from infoprune.errors import UserError

    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--sizes {args.sizes!r}: give whole multiples, e.g. 1,2,5,10") from None
    if not sizes or min(sizes) < 1 or args.base_docs < 10:
        raise UserError("--sizes needs positive multiples and --base-docs at least 10 documents")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix=".memory-", dir=out))
    try:
        result = measure(args, sorted(set(sizes)), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(time.time() - t0, 1)
    (out / "memory.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out / "memory.png")
    print(summary(result))
    return 0


def measure(args: argparse.Namespace, sizes: list[int], work: Path) -> dict:
    from .log import Logger
    from .presets import preset

    log = Logger()
    data_dir = work / "data"
    corpora = write_corpora(work, args.base_docs, sizes, preset(args.preset).data)
    common = ["--preset", args.preset, "--criteria", args.criteria, "--data-dir", str(data_dir)]

    def stream_cmd(k: int) -> list[str]:
        return [sys.executable, "-m", "bench", "prune-corpus", "--corpus", f"jsonl:{corpora[k]}", "--ratio", "0.5",
                "--shard-docs", str(args.shard_docs), "--device", "cpu", "--out", str(work / f"stream-{k}"), *common]

    def score_cmd(k: int) -> list[str]:  # the whole pool band, as prune-corpus takes it
        return [sys.executable, "-m", "bench", "score", "--corpus", f"jsonl:{corpora[k]}", "--pool-bytes",
                str(10**15), "--out", str(work / f"score-{k}.parquet"), *common]

    log("memory: warm-up: training the tokenizer and probe into the shared cache (not measured)")
    warm = run_measured(stream_cmd(sizes[0]), work / "warmup")
    shutil.rmtree(work / f"stream-{sizes[0]}", ignore_errors=True)
    rows = []
    for k in sizes:
        row = {"size": k, "corpus_bytes": corpora[k].stat().st_size}
        row["stream"] = run_measured(stream_cmd(k), work / f"stream-{k}.rss")
        row["pool_samples"] = count_rows(work / f"stream-{k}" / "scores.parquet")
        if not args.skip_in_memory:
            row["in_memory"] = run_measured(score_cmd(k), work / f"score-{k}.rss")
        log(f"memory: {k}x: {row['pool_samples']} pool samples, prune-corpus peak {row['stream']['peak_mb']} MB"
            + (f", bench score peak {row['in_memory']['peak_mb']} MB" if "in_memory" in row else ""))
        shutil.rmtree(work / f"stream-{k}", ignore_errors=True)
        rows.append(row)
    return {"options": {k: v for k, v in vars(args).items() if not callable(v)}, "preset": args.preset,
            "criteria": args.criteria, "shard_docs": args.shard_docs, "base_docs": args.base_docs,
            "warmup_seconds": warm["seconds"], "runs": rows,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
            "stream_peak_ratio": round(rows[-1]["stream"]["peak_mb"] / rows[0]["stream"]["peak_mb"], 3)}


def run_measured(cmd: list[str], result: Path) -> dict:
    """Run `cmd` under the wrapper; its peak RSS in MB and its seconds. A failing command is an error."""
    t = time.time()
    subprocess.run([sys.executable, "-c", WRAPPER, str(result), *cmd], check=True)
    found = json.loads(result.read_text())
    if found["rc"] != 0:
        tail = Path(str(result) + ".log").read_text()[-2000:]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed with status {found['rc']}:\n{tail}")
    return {"peak_mb": round(found["maxrss_kb"] / 1024, 1), "seconds": round(time.time() - t, 1)}


def count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def write_corpora(work: Path, base_docs: int, sizes: list[int], data) -> dict[int, Path]:
    """The k-x corpus: the base documents, plus pool-band documents until its pool is k times the base's."""
    from infoprune.documents import Document
    from infoprune.stream import band

    rng = np.random.default_rng(0)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    vocab = ["".join(rng.choice(letters, size=rng.integers(2, 10))) for _ in range(VOCAB)]
    p = 1.0 / np.arange(1, VOCAB + 1)
    p /= p.sum()

    def doc(i: int) -> Document:
        words = rng.choice(VOCAB, size=int(np.clip(rng.lognormal(5.5, 0.6), 30, 1500)), p=p)
        return Document(f"synth/{i:07d}", "synth", " ".join(vocab[w] for w in words).capitalize() + ".")

    base = [doc(i) for i in range(base_docs)]
    n_pool = sum(band(d, data) == "pool" for d in base)
    extra, i = [], base_docs
    while len(extra) < (max(sizes) - 1) * n_pool:
        candidate = Document(f"synth/{i:07d}", "synth", "")
        if band(candidate, data) == "pool":  # the band depends on the id alone
            extra.append(doc(i))
        i += 1
    paths = {}
    for k in sizes:
        paths[k] = work / f"corpus-{k}x.jsonl"
        with paths[k].open("w") as f:
            for d in base + extra[: (k - 1) * n_pool]:
                f.write(json.dumps({"id": d.id, "source": d.source, "text": d.text}) + "\n")
    return paths


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["runs"]
    x = [r["pool_samples"] for r in rows]
    lines = [("stream", "o-", "prune-corpus (streamed, sharded)")]
    if all("in_memory" in r for r in rows):
        lines.append(("in_memory", "s--", "bench score (in memory)"))
    # Left: the peaks themselves, from zero. Right: their growth over the smallest size, where the
    # difference lies (most of a peak is the interpreter, torch and the model, the same at every size).
    fig, (ax, grow) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style, label in lines:
        peaks = [r[key]["peak_mb"] for r in rows]
        ax.plot(x, peaks, style, label=label)
        grow.plot(x, [p - peaks[0] for p in peaks], style, label=label)
    for r in rows:
        ax.annotate(f"{r['size']}x", (r["pool_samples"], r["stream"]["peak_mb"]), textcoords="offset points",
                    xytext=(0, -14), ha="center", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("peak RSS (MB)")
    grow.set_ylabel(f"peak RSS minus the {rows[0]['size']}x peak (MB)")
    for a in (ax, grow):
        a.set_xlabel("pool size (samples)")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"Peak memory vs pool size ({result['preset']} preset, {result['criteria']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(result: dict) -> str:
    lines = ["| size | corpus MB | pool samples | prune-corpus peak MB | bench score peak MB |", "|---:|---:|---:|---:|---:|"]
    for r in result["runs"]:
        mem = r.get("in_memory", {}).get("peak_mb", "—")
        lines.append(f"| {r['size']}x | {r['corpus_bytes'] / 1e6:.1f} | {r['pool_samples']} | {r['stream']['peak_mb']} | {mem} |")
    lines.append(f"\nprune-corpus peak at {result['runs'][-1]['size']}x / at {result['runs'][0]['size']}x: "
                 f"{result['stream_peak_ratio']}; {result['seconds']} s in all")
    return "\n".join(lines)
