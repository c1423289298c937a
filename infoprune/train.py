"""The trainer: one identical recipe for the probe and for every (criterion, ratio, seed) cell.

Kept samples are shuffled by the data-order seed and packed, each after an end-of-text token, into a
stream cut into full windows: no padding, and a fixed token budget makes every cell compute-matched.

Speed (measured on 2 EPYC cores for the default model; `python -m bench perf` shows it): the suite's LM
trains in fp32 on CPU (`model.lm_precision`), with the head and loss fused in chunks (head.py), the fused
AdamW kernel, and without the KV cache that transformers otherwise fills on every forward. A long enough
training on CPU runs its objective through torch.compile, deterministically (compiled.py).
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM
from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

from .compiled import compile_objective, compiled_training, compiles
from .config import TrainConfig
from .distributed import World
from .errors import UserError
from .head import fused_head_loss
from .model import autocast, lm_precision
from .samples import Sample


class CausalLMLoss(torch.nn.Module):
    """The training objective as one module: mean next-token cross-entropy of a (batch, seq_len + 1) window batch.

    It is one module so that DistributedDataParallel wraps the whole forward pass, the loss included. On CPU
    the LM head and the loss run fused, in cache-sized chunks (head.py); that trains the default model about
    1.3x faster than writing out its logits. On CUDA the plain path runs, as measured on an H200.
    """

    def __init__(self, model: LlamaForCausalLM, device: str, precision: str) -> None:
        super().__init__()
        self.model, self.device, self.precision = model, device, precision
        self.fused = device == "cpu" and isinstance(model, LlamaForCausalLM)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        inputs, targets = batch[:, :-1], batch[:, 1:].reshape(-1)
        with autocast(self.device, self.precision):
            if self.fused:
                hidden = self.model.model(input_ids=inputs, use_cache=False).last_hidden_state
                return fused_head_loss(hidden.reshape(len(targets), -1), self.model.lm_head.weight, targets,
                                       self.device)
            logits = self.model(input_ids=inputs, use_cache=False).logits
        return F.cross_entropy(logits.float().reshape(len(targets), -1), targets)


@dataclass
class TrainStats:
    steps: int
    tokens: int
    seconds: float
    final_loss: float
    curve: list[tuple[int, float]] = field(default_factory=list)
    compiled: bool = False


def packed_batches(
    samples: Sequence[Sample], eos_id: int, batch_size: int, seq_len: int, seed: int
) -> Iterator[torch.Tensor]:
    """Endless (batch, seq_len + 1) windows over the packed samples; each epoch is reshuffled."""
    rng = np.random.default_rng(seed)
    window = seq_len + 1
    # Every sample after its end-of-text token, laid out once in one flat array; an epoch is a single gather
    # from it in shuffled order (a Python loop over the samples cost ~0.1 s per epoch of the default pool).
    lengths = np.array([len(s.tokens) + 1 for s in samples], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    flat = np.full(int(lengths.sum()), eos_id, dtype=np.int64)
    body = np.ones(len(flat), dtype=bool)
    body[starts] = False
    flat[body] = np.concatenate([s.tokens for s in samples] or [np.zeros(0, dtype=np.int64)])
    carry = np.zeros(0, dtype=np.int64)
    while True:
        order = rng.permutation(len(samples))
        sizes = lengths[order]
        # Output position p of the sample at offset j of the shuffled stream reads flat[p + starts - j].
        shift = starts[order] - (np.cumsum(sizes) - sizes)
        stream = np.concatenate([carry, flat[np.arange(int(sizes.sum())) + np.repeat(shift, sizes)]])
        n_windows = len(stream) // window
        windows = stream[: n_windows * window].reshape(n_windows, window)
        carry = stream[n_windows * window :]
        for b in range(0, n_windows - batch_size + 1, batch_size):
            yield torch.from_numpy(windows[b : b + batch_size])
        # A partial last batch is carried into the next epoch rather than dropped.
        leftover = windows[(n_windows // batch_size) * batch_size :]
        carry = np.concatenate([leftover.reshape(-1), carry])


def train(
    model: torch.nn.Module,
    samples: Sequence[Sample],
    cfg: TrainConfig,
    seq_len: int,
    eos_id: int,
    seed: int,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
    world: World = World(),
) -> TrainStats:
    """Train `model` in place on `samples` for the configured token budget.

    Under torchrun the model is wrapped in DistributedDataParallel and every rank draws the same global
    batch, then trains on its own rows of it (rank, rank + size, ...). Each rank's mean loss is weighted by
    its share of the rows, so the averaged gradient is that of the global batch: the batch size, the token
    budget and the learning-rate schedule mean what they mean on one process, whatever the world size.
    """
    if world.size > cfg.batch_size:
        raise UserError(f"{world.size} processes cannot share a batch of {cfg.batch_size} windows; "
                        "use at most as many processes as the batch size")
    steps = planned_steps(samples, cfg, seq_len)
    compiled = compiles(cfg, device, steps)
    precision = lm_precision(device, cfg.precision)
    model.to(device).train()
    net: torch.nn.Module = CausalLMLoss(model, device, precision)
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(net, device_ids=[world.local_rank] if device == "cuda" else None)
    if compiled:
        net = compile_objective(net)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
        fused=True,  # one kernel for all parameters: the tiny model's step is otherwise dominated by overhead
    )
    sched = get_cosine_with_min_lr_schedule_with_warmup(
        opt, max(1, int(cfg.warmup_frac * steps)), steps, min_lr_rate=cfg.min_lr_frac
    )
    batches = packed_batches(samples, eos_id, cfg.batch_size, seq_len, seed)
    curve: list[tuple[int, float]] = []
    t0, last_log, loss_val = time.time(), time.time(), float("nan")
    with compiled_training() if compiled else nullcontext():
        for step in range(steps):
            batch = next(batches)
            rows = batch[world.rank :: world.size].to(device)
            # Exactly 1.0 on one process, so a single-process run computes what it always did.
            loss = net(rows) * (len(rows) * world.size / len(batch))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            loss_val = global_loss(loss.detach(), world)
            if step % 10 == 0 or step == steps - 1:
                curve.append((step, loss_val))
            if log and time.time() - last_log > 10:
                log(f"  step {step + 1}/{steps} loss {loss_val:.3f}")
                last_log = time.time()
    model.eval()
    return TrainStats(steps, steps * cfg.batch_size * seq_len, time.time() - t0, loss_val, curve, compiled)


def planned_steps(samples: Sequence[Sample], cfg: TrainConfig, seq_len: int) -> int:
    """Optimizer steps of a training on `samples`: the token budget over the tokens of one batch."""
    kept_tokens = int(sum(len(s.tokens) + 1 for s in samples))
    return max(1, math.ceil(cfg.budget_tokens(kept_tokens) / (cfg.batch_size * seq_len)))


def global_loss(weighted: torch.Tensor, world: World) -> float:
    """The global batch's mean loss from each rank's weighted share of it."""
    if world.distributed:
        import torch.distributed as dist

        weighted = weighted.clone()
        dist.all_reduce(weighted)
        return weighted.item() / world.size
    return weighted.item()
