"""The scoring engine: per-token negative log-likelihood of many samples under one model, batched.

Criteria that need the probe's NLL share one pass of this over the pool; evaluation uses it too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .model import autocast
from .samples import Sample


@torch.inference_mode()
def token_nll(
    model: torch.nn.Module,
    samples: Sequence[Sample],
    eos_id: int,
    batch_tokens: int = 4096,
    device: str = "cpu",
    precision: str = "auto",
) -> list[np.ndarray]:
    """NLL in nats of every token of every sample, each predicted from an end-of-text token and its prefix.

    Samples are sorted by length and packed into batches of about `batch_tokens` so padding stays small;
    results come back in the input order.
    """
    model.eval()
    out: list[np.ndarray | None] = [None] * len(samples)
    order = sorted(range(len(samples)), key=lambda i: (len(samples[i].tokens), samples[i].id))
    start = 0
    while start < len(order):
        # Lengths ascend, so the last sample of the batch sets its width; grow while it fits the budget.
        end = start + 1
        while end < len(order) and (end - start + 1) * (len(samples[order[end]].tokens) + 1) <= batch_tokens:
            end += 1
        batch = order[start:end]
        width = len(samples[batch[-1]].tokens) + 1
        ids = torch.full((len(batch), width), eos_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            toks = torch.from_numpy(samples[i].tokens.astype(np.int64))
            ids[row, 1 : 1 + len(toks)] = toks
            mask[row, : 1 + len(toks)] = 1
        ids, mask = ids.to(device), mask.to(device)
        with autocast(device, precision):
            logits = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1]).logits
        nll = F.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none").cpu().numpy()
        for row, i in enumerate(batch):
            out[i] = nll[row, : len(samples[i].tokens)].astype(np.float64)
        start = end
    return out  # type: ignore[return-value]
