"""torch.distributed, as launched by torchrun: who this process is, and the few collectives the suite uses.

One process is a world of size 1, and then nothing here touches torch.distributed: the same code runs on a
laptop CPU and under `torchrun --nproc_per_node N` (gloo on CPU, NCCL on CUDA) across machines.
Work is split by rank in a way that does not depend on the world size where results must not (see
`owned`), so N processes give the same numbers as one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# Rank 0 alone runs lm-eval while the others wait in the next collective: allow for a slow evaluation.
TIMEOUT = timedelta(minutes=int(os.environ.get("INFOPRUNE_DIST_TIMEOUT_MIN", "120")))


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main rank writes results, manifests and caches."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_env(cls) -> "World":
        """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK; a plain launch is rank 0 of 1."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    def owned(self, n_items: int) -> list[int]:
        """The item indices this rank computes: every size-th one, from its rank (uneven shares allowed).

        Items are units of work whose result does not depend on which rank computes them (a batch of fixed
        composition), so the merged result is the same for any world size.
        """
        return list(range(self.rank, n_items, self.size))

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast(self, obj):
        """The main rank's `obj` on every rank (a decision all ranks must share, e.g. 'this cell is cached')."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out: list = [None] * self.size
        dist.all_gather_object(out, obj)
        return out


def init(device: str) -> World:
    """Join the process group torchrun set up (a no-op for one process) and pick this rank's device."""
    world = World.from_env()
    if world.distributed and not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        if device == "cuda":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend, timeout=TIMEOUT)
    return world


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(name: str) -> str:
    """`auto` is CUDA when a GPU is visible, else CPU; asking for CUDA without one is an error, not a fallback."""
    from .errors import UserError

    if name not in ("auto", "cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; valid devices: auto, cpu, cuda")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to torch here; use --device cpu or auto")
    return name
