"""Presets, and the one place that turns command-line options into a typed `RunConfig`."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

from infoprune.config import DataConfig, ModelConfig, RunConfig, TrainConfig, default_data_dir, parse_budget
from infoprune.criterion import parse_specs
from infoprune.errors import UserError
from infoprune.registry import did_you_mean
from infoprune.hub import hub_reachable
from infoprune.select import check_ratio
from infoprune.tasks import local_names, resolve

PROBES = ("own", "pool", "smollm2")

PRESETS: dict[str, RunConfig] = {
    # The default model on a fifth of its pool and a tenth of its budget: every criterion's 61 cells in 162 s
    # with two workers, 178 s in one process (2 cores, a data dir holding only the corpus, at baebaa7).
    "smoke": RunConfig(
        preset="smoke",
        data=DataConfig(probe_bytes=300_000, pool_bytes=600_000, test_bytes=60_000, dev_bytes=60_000,
                        ood_bytes=40_000),
        model=ModelConfig(vocab_size=2048, seq_len=128, d_model=64, n_layers=2, n_heads=4, d_ff=256),
        train=TrainConfig(budget="tokens:80000", lr=3e-3),
        probe_train=TrainConfig(budget="tokens:200000", lr=3e-3),
        tasks=local_names(),
        task_limit=25,  # every local task on its first 25 items: enough to see the wiring work
    ),
    # make bench (every criterion, 61 cells) on 2 CPU cores from an empty data dir, with the default two worker
    # processes: 22.7 min at 6865c84, 29.0 min at feb59a7 in a slower hour (35.3 min on one process at ec49f72).
    # At this compute a 0.13M-parameter model on 800k tokens beats a 1M-parameter one on the 250k tokens it
    # could afford (2.78 vs 3.06 bits/byte).
    "default": RunConfig(
        preset="default",
        data=DataConfig(probe_bytes=1_500_000, pool_bytes=3_000_000, test_bytes=250_000, dev_bytes=250_000,
                        ood_bytes=120_000),
        model=ModelConfig(vocab_size=2048, seq_len=128, d_model=64, n_layers=2, n_heads=4, d_ff=256),
        train=TrainConfig(budget="tokens:800000", lr=3e-3),
        probe_train=TrainConfig(budget="tokens:1000000", lr=3e-3),
        tasks=local_names(),
    ),
    # A second scale on CPU, to ask whether the default's ranking of criteria holds for a larger model: 8x the
    # default's non-embedding parameters (1.05M), 6x its training FLOPs per token, on 1.6M tokens a cell: about
    # 10x the default's compute per cell. Measured: 3.5 min a cell on one thread here, 44 cells in 89 min on two
    # processes (results/large; docs/corpus-and-tasks.md).
    "large": RunConfig(
        preset="large",
        data=DataConfig(probe_bytes=1_500_000, pool_bytes=3_000_000, test_bytes=250_000, dev_bytes=250_000,
                        ood_bytes=120_000),
        model=ModelConfig(vocab_size=4096, seq_len=128, d_model=128, n_layers=4, n_heads=4, d_ff=512),
        train=TrainConfig(budget="tokens:1600000", lr=2e-3),
        probe_train=TrainConfig(budget="tokens:1000000", lr=3e-3),
        tasks=local_names(),
    ),
    # A GPU proxy sized for one short lease (docs/cluster.md): a 10.6M-parameter model (13.7M with the
    # embeddings), context 256, 5M tokens a cell, on a 20 MB pool that the JSON-lines export of the default
    # corpus carries to a machine without a network. Its time on a GPU is not yet measured.
    "gpu-proxy": RunConfig(
        preset="gpu-proxy",
        data=DataConfig(probe_bytes=10_000_000, pool_bytes=20_000_000, test_bytes=2_000_000, dev_bytes=1_500_000,
                        ood_bytes=500_000),
        model=ModelConfig(vocab_size=8192, seq_len=256, d_model=384, n_layers=6, n_heads=6, d_ff=1024),
        train=TrainConfig(budget="tokens:5000000", batch_size=64, lr=1e-3),
        probe_train=TrainConfig(budget="tokens:10000000", batch_size=64, lr=1e-3),
        eval_batch_size=64,
        tasks=local_names(),
    ),
    # For GPUs (README "Running on a cluster"): a GPT-2-small-class model, 124M parameters (99M without the
    # 32k-token embedding), context 1,024. On wikitext-103 from the hub when it answers, else on the whole
    # default corpus (see `build_config`).
    "paper": RunConfig(
        preset="paper",
        data=DataConfig(probe_bytes=60_000_000, pool_bytes=400_000_000, test_bytes=4_000_000, dev_bytes=4_000_000,
                        ood_bytes=2_000_000),
        model=ModelConfig(vocab_size=32768, seq_len=1024, d_model=768, n_layers=12, n_heads=12, d_ff=2560),
        train=TrainConfig(budget="tokens:100000000", batch_size=64, lr=6e-4),
        probe_train=TrainConfig(budget="tokens:100000000", batch_size=64, lr=6e-4),
        eval_batch_size=16,
        tasks=local_names(),
    ),
}

# The paper preset's corpus when the hub answers: wikitext-103's 540 MB of Wikipedia articles.
PAPER_HUB_CORPUS = "hf:wikitext:wikitext-103-raw-v1"


def parse_ratios(text: str) -> tuple[float, ...]:
    try:
        ratios = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--ratios {text!r}: give fractions pruned, e.g. 0.25,0.5,0.75") from None
    if not ratios:
        raise UserError("--ratios is empty; give fractions pruned, e.g. 0.25,0.5,0.75")
    if len(set(ratios)) != len(ratios):
        raise UserError(f"--ratios {text!r} repeats a ratio")
    return tuple(check_ratio(r) for r in ratios)


def parse_seeds(text: str) -> tuple[int, ...]:
    """`3` means seeds 0, 1, 2; `0,5,7` is an explicit list."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--seeds {text!r}: give a count (3) or a comma-separated list (0,5,7)") from None
    if "," not in text:
        if len(values) != 1 or values[0] < 1:
            raise UserError(f"--seeds {text!r}: the count of seeds must be at least 1 "
                            "(one seed N alone: --seeds N,)")
        return tuple(range(values[0]))
    if len(set(values)) != len(values):
        raise UserError(f"--seeds {text!r} repeats a seed: repeated seeds would count one run twice")
    return tuple(values)


def check_budget(text: str) -> str:
    try:
        parse_budget(text)
    except ValueError:
        raise UserError(f"--budget {text!r}: write tokens:N (compute-matched) or epochs:N") from None
    return text


def parse_lr_scale(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        scale = float("nan")
    if not math.isfinite(scale) or scale <= 0:
        raise UserError(f"--lr-scale {text!r}: give a positive factor for the cells' learning rate, e.g. 2 or 0.5")
    return scale


# Memory `auto` allows each worker: a default-preset worker peaked at 1.0 GB of RSS (measured 2026-12-06).
WORKER_MEMORY = 2 << 30


def parse_workers(text: str, device: str) -> int:
    """`--workers`: a count, or `auto`: one per core on CPU, as memory allows; 1 on a GPU or under torchrun."""
    import os

    from infoprune.distributed import World

    if text == "auto":
        if device != "cpu" or World.from_env().distributed:
            return 1
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return max(1, min(len(os.sched_getaffinity(0)), memory // WORKER_MEMORY))
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise UserError(f"--workers {text!r}: give a number of processes (1 or more) or auto")
    if workers > 1 and device != "cpu":
        raise UserError("--workers runs cells in CPU processes; on GPUs run one process per GPU with torchrun "
                        "(docs/cluster.md)")
    if workers > 1 and World.from_env().distributed:
        raise UserError("--workers and torchrun do not mix: under torchrun the ranks share each cell")
    return workers


def preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}.{did_you_mean(name, PRESETS)}")
    return PRESETS[name]


def build_config(args: argparse.Namespace) -> RunConfig:
    from infoprune.distributed import resolve_device  # torch: only for commands that build a run

    base = preset(args.preset)
    device = resolve_device(getattr(args, "device", None) or "auto")
    budget = getattr(args, "budget", None)
    train = replace(base.train, budget=check_budget(budget)) if budget else base.train
    # The cells' learning rate only: the probe is shared by every run of the preset, and its scores stay cached.
    lr_scale = parse_lr_scale(str(args.lr_scale)) if getattr(args, "lr_scale", None) is not None else 1.0
    if lr_scale != 1.0:
        train = replace(train, lr=train.lr * lr_scale)
    probe_train = base.probe_train
    if getattr(args, "compile", None):
        train, probe_train = replace(train, compile=args.compile), replace(probe_train, compile=args.compile)
    data = replace(base.data, corpus=args.corpus or paper_corpus(base))
    if args.pool_bytes is not None:
        if args.pool_bytes <= 0:
            raise UserError(f"--pool-bytes {args.pool_bytes}: give a positive number of bytes")
        data = replace(data, pool_bytes=args.pool_bytes)
    if args.ood is not None:
        data = replace(data, ood=args.ood)
    tasks = resolve(args.tasks) if getattr(args, "tasks", None) is not None else base.tasks
    if args.probe not in PROBES:
        raise UserError(f"unknown probe {args.probe!r}; valid probes: {', '.join(PROBES)}")
    return replace(
        base,
        criteria=parse_specs(args.criteria),
        ratios=parse_ratios(args.ratios) if getattr(args, "ratios", None) else base.ratios,
        seeds=parse_seeds(args.seeds) if getattr(args, "seeds", None) else base.seeds,
        probe=args.probe,
        tasks=tasks,
        data=data,
        train=train,
        probe_train=probe_train,
        # a run at another learning rate gets its own folder: sharing one would replace the first run's results
        out=getattr(args, "out", None) or f"runs/{args.preset}" + (f"-lr{lr_scale:g}" if lr_scale != 1.0 else ""),
        data_dir=str(args.data_dir or default_data_dir()),
        device=device,
        workers=parse_workers(str(getattr(args, "workers", None) or "1"), device),
    )


def paper_corpus(base: RunConfig) -> str:
    """The preset's own corpus; for `paper`, wikitext-103 when the hub answers (it has no Austen: no OOD set)."""
    if base.preset == "paper" and hub_reachable():
        return PAPER_HUB_CORPUS
    return base.data.corpus
