"""Measurement helpers for `python -m bench perf` and tests/test_perf.py: FLOP counts, matmul peaks, and
throughput measured side by side.

The machine this suite runs on is often shared, so absolute tokens/s move with the load. Ratios hold up
better when every contender runs in short turns, round-robin, inside one process: a burst of load then
slows all of them alike. `side_by_side` does that and reports each contender's median over its turns.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from .config import ModelConfig


def flops_per_token(cfg: ModelConfig, training: bool) -> float:
    """Model FLOPs per token: 6*N + 6*L*T*d for training, 2*N + 2*L*T*d for a forward pass.

    N counts every weight matrix a token goes through, the LM head included: with tied embeddings the input
    lookup costs nothing but the head is still a d_model x vocab matmul per token. Per layer that is the
    four attention projections (4*d^2) and the SwiGLU MLP (3*d*d_ff); norms and rotary are left out as
    usual. The attention term is the score and value matmuls, 2*T*d per layer per token forward (causal
    masking not discounted, as in the usual MFU convention), times three for forward + backward.
    """
    d, L, T = cfg.d_model, cfg.n_layers, cfg.seq_len
    n = L * (4 * d * d + 3 * d * cfg.d_ff) + d * cfg.vocab_size
    mult = 6 if training else 2
    return float(mult * n + mult * L * T * d)


def matmul_gflops(dtype: torch.dtype, device: str = "cpu", n: int = 2048, seconds: float = 2.0) -> float:
    """Best rate of n x n x n matmuls over about `seconds`: the machine's practical peak for `dtype`."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: thread pool, oneDNN kernel selection
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def side_by_side(contenders: dict[str, Callable[[], float]], rounds: int, device: str = "cpu",
                 best: dict[str, float] | None = None) -> dict[str, float]:
    """Median tokens/s of each contender over `rounds` round-robin turns (the best turn's rate into `best`).

    Each contender is a callable that does one turn of work and returns the number of tokens it processed.
    One untimed turn each first: it pays for lazy initialisation and any compilation.
    """
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():
        fn()
    for _ in range(rounds):
        for name, fn in contenders.items():
            sync(device)
            t0 = time.perf_counter()
            tokens = fn()
            sync(device)
            rates[name].append(tokens / (time.perf_counter() - t0))
    if best is not None:
        best.update({name: max(r) for name, r in rates.items()})
    return {name: statistics.median(r) for name, r in rates.items()}


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0
