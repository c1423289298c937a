"""Launched by test_distributed.py under torchrun: one tiny run of the suite on this rank.

    torchrun --standalone --nproc_per_node N tests/dist_worker.py CORPUS OUT DATA_DIR [FAIL_RANK]
    torchrun --standalone --nproc_per_node N tests/dist_worker.py cli BENCH_ARGS...

The first form calls `runbook.run` on the test config; with FAIL_RANK, that rank raises inside the first
cell's training. The second runs `python -m bench BENCH_ARGS` with the test config as preset `tiny`.
"""

import sys
from pathlib import Path

import torch

import bench.presets
import infoprune.pipeline as pipeline
import infoprune.runbook as runbook
from bench.cli import main as bench_main
from conftest import tiny_config
from infoprune.distributed import init, shutdown

CRITERIA = "random,length,information,perplexity"


def main() -> int:
    torch.set_num_threads(1)
    if sys.argv[1] == "cli":
        bench.presets.PRESETS["tiny"] = tiny_config("unused", "unused", "unused")
        return bench_main(sys.argv[2:])
    corpus, out, data_dir = (Path(a) for a in sys.argv[1:4])
    fail_rank = int(sys.argv[4]) if len(sys.argv) > 4 else None
    cfg = tiny_config(corpus, out, data_dir, criteria=CRITERIA)
    world = init("cpu")
    if world.rank == fail_rank:
        def failing(*args, **kwargs):
            raise RuntimeError(f"rank {world.rank} fails on purpose")

        pipeline.train = failing
    failed = runbook.run(cfg, lambda msg: None, world)
    shutdown(world)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
