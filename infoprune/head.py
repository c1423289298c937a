"""The LM head and its cross-entropy, run together on chunks of rows so the full logits are never written.

A tiny model's head is a (tokens x vocab) matmul whose logits are far larger than its hidden states: for the
default model, 2,048 tokens x 2,048 vocabulary is 16 MiB of fp32 logits against 0.5 MiB of hidden states.
Writing them out, reading them back for the softmax, and again for its backward costs more on a CPU than
the matmuls themselves. Chunks of rows sized to stay in cache avoid that:
- `nll_from_hidden` (scoring, no gradient): each chunk's logits go straight into its cross-entropy;
- `fused_head_loss` (training): each chunk's softmax gradient is formed at once and folded into the
  gradients of the hidden states and the head, so the backward pass only scales them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Logits per chunk: 2^19 fp32 values (2 MiB) measured fastest on 2 EPYC cores for the default model's scoring
# and training; a GPU wants big kernels.
CHUNK_ELEMENTS = {"cpu": 1 << 19, "cuda": 1 << 26}


def chunk_rows(vocab: int, device: str) -> int:
    return max(16, CHUNK_ELEMENTS.get(device, 1 << 19) // vocab)


def nll_from_hidden(hidden: torch.Tensor, head: torch.Tensor, targets: torch.Tensor, device: str) -> torch.Tensor:
    """Cross-entropy of `targets` under logits hidden @ head.T, one cache-sized chunk of rows at a time (fp32)."""
    h = hidden.reshape(-1, hidden.size(-1))
    t = targets.reshape(-1)
    out = torch.empty(len(t), dtype=torch.float32, device=h.device)
    rows = chunk_rows(head.size(0), device)
    for start in range(0, len(t), rows):
        logits = F.linear(h[start : start + rows], head).float()
        out[start : start + rows] = F.cross_entropy(logits, t[start : start + rows], reduction="none")
    return out.reshape(targets.shape)


class _FusedHeadLoss(torch.autograd.Function):
    """Mean cross-entropy of hidden @ weight.T against targets; the gradients are computed in the forward pass.

    For one row, d(loss)/d(logits) = softmax(logits) - onehot(target). Forming it chunk by chunk while the
    logits are in cache gives grad_hidden = G @ weight and grad_weight = G.T @ hidden without ever storing
    the logits; backward then only multiplies by the incoming gradient. Computed in fp32.
    """

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, rows: int) -> torch.Tensor:
        n = hidden.size(0)
        w = weight.float()
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty(hidden.shape, dtype=torch.float32, device=hidden.device)
        grad_weight = torch.zeros(w.shape, dtype=torch.float32, device=hidden.device)
        for start in range(0, n, rows):
            h, t = hidden[start : start + rows].float(), targets[start : start + rows]
            at = torch.arange(len(t), device=hidden.device)
            logp = torch.log_softmax(F.linear(h, w), dim=-1)  # one fused kernel; logsumexp takes five passes
            total -= logp[at, t].sum()
            grad = logp.exp_()  # the softmax, in place
            grad[at, t] -= 1.0
            torch.mm(grad, w, out=grad_hidden[start : start + rows])
            grad_weight.addmm_(grad.t(), h)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.n, ctx.dtypes = n, (hidden.dtype, weight.dtype)
        return total / n

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_out / ctx.n
        return (grad_hidden * scale).to(ctx.dtypes[0]), (grad_weight * scale).to(ctx.dtypes[1]), None, None


def fused_head_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, device: str) -> torch.Tensor:
    """Mean next-token cross-entropy of (tokens, d_model) hidden states under the head `weight` (vocab, d_model)."""
    with torch.autocast(device_type=device, enabled=False):
        return _FusedHeadLoss.apply(hidden, weight, targets, chunk_rows(weight.size(0), device))
