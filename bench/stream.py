"""`python -m bench prune-corpus`: prune a corpus larger than memory, scoring its pool in shards on disk.

The library side is infoprune/stream.py. Under `torchrun --nproc_per_node N` the shards are shared among
the processes (shard i goes to rank i % N) and the result is the same as with one process.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from infoprune.select import MODES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="default", help="'default', 'default:austen,bible', 'jsonl:PATH', "
                   "'text:DIR' or 'hf:NAME[:CONFIG]' (streamed when the hub is reachable)")
    p.add_argument("--criteria", default="information",
                   help="per-sample criteria, e.g. 'information,length' (parameters: name:key=value); 'all' means "
                   "every per-sample criterion. Criteria that compare samples across the pool need 'bench score'")
    p.add_argument("--ratio", required=True, type=float, help="fraction of the pool pruned, in (0, 1)")
    p.add_argument("--out", required=True, help="folder for shards/, scores.parquet and kept.jsonl; "
                   "running the same command again resumes it")
    p.add_argument("--preset", default="default", help="sizes of the probe slice and model (smoke, default)")
    p.add_argument("--shard-docs", type=int, default=2000, help="pool documents per shard (a shard's texts are "
                   "in memory while it is scored)")
    p.add_argument("--pool-bytes", type=int, help="score only this many bytes of the pool band (the hash-order "
                   "prefix, as 'bench score' takes it); default: the whole pool band")
    p.add_argument("--select-by", help="the criterion whose scores select kept.jsonl (default: the first of --criteria)")
    p.add_argument("--mode", choices=MODES,
                   help="which scores to keep (default: the criterion's own)")
    p.add_argument("--seed", type=int, default=0, help="seed of seeded criteria (random) and of the 'sample' mode, "
                   "as in 'bench score' and 'bench prune'")
    p.add_argument("--ood", help="document-id prefix or source name held out of the pool (default: austen/persuasion)")
    p.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu or cuda; under torchrun "
                   "each process takes the GPU of its local rank")
    p.add_argument("--data-dir", help="cache of corpora, tokenizers and probes (default $INFOPRUNE_DATA or "
                   "~/.cache/infoprune)")


def main(args: argparse.Namespace) -> int:
    from infoprune.distributed import init, resolve_device, shutdown
    from infoprune.stream import prune_corpus, streamable

    from .log import Logger
    from .presets import build_config

    options = argparse.Namespace(preset=args.preset, corpus=args.corpus, pool_bytes=args.pool_bytes, ood=args.ood,
                                 probe="own", criteria=args.criteria, seeds=None, out=args.out,
                                 data_dir=args.data_dir)
    cfg = build_config(options)
    cfg = replace(cfg, criteria=streamable(cfg.criteria, all_requested=args.criteria.strip() == "all"),
                  device=resolve_device(args.device))
    world = init(cfg.device)
    log = Logger(world, every_rank=True)  # each rank scores its own shards: all of them speak
    try:
        summary = prune_corpus(cfg, Path(args.out), args.ratio, pool_bytes=args.pool_bytes, shard_docs=args.shard_docs,
                               select_by=args.select_by, mode=args.mode, seed=args.seed, log=log, world=world)
    finally:
        shutdown(world)
    if summary is not None:
        print(f"kept {summary['kept']} of {summary['samples']} samples ({summary['kept_tokens']} tokens) by "
              f"{summary['select_by']} ({summary['mode']}); {summary['shards']} shards, {len(summary['reused'])} "
              f"reused -> {summary['kept_path']}, {summary['scores']}")
    return 0
