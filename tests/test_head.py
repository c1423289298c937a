"""The fused, chunked head loss trains exactly what the plain logits + cross-entropy path trains."""

import pytest
import torch
import torch.nn.functional as F

from infoprune import head
from infoprune.config import ModelConfig
from infoprune.model import build_model, lm_precision
from infoprune.train import CausalLMLoss

CFG = ModelConfig(vocab_size=300, seq_len=24, d_model=32, n_layers=2, n_heads=2, d_ff=64)


def grads(loss_fn, model, batch):
    model.zero_grad(set_to_none=True)
    loss = loss_fn(batch)
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("rows", [7, 64, 10_000])  # uneven chunks, several chunks, one chunk
def test_fused_loss_and_gradients_equal_the_plain_path(monkeypatch, rows):
    model = build_model(CFG, 0)
    batch = torch.randint(0, CFG.vocab_size, (6, CFG.seq_len + 1), generator=torch.Generator().manual_seed(1))
    fused = CausalLMLoss(model, "cpu", "fp32")
    assert fused.fused
    plain = CausalLMLoss(model, "cpu", "fp32")
    plain.fused = False
    monkeypatch.setattr(head, "chunk_rows", lambda vocab, device: rows)
    loss_f, grad_f = grads(fused, model, batch)
    loss_p, grad_p = grads(plain, model, batch)
    assert loss_f == pytest.approx(loss_p, rel=1e-6)
    # the head is tied to the embeddings: its gradient from the loss and from the input lookup add up
    assert "model.embed_tokens.weight" in grad_f
    for name in grad_p:
        torch.testing.assert_close(grad_f[name], grad_p[name], rtol=1e-4, atol=1e-6)


def test_fused_loss_scales_with_the_incoming_gradient():
    h = torch.randn(10, 8, requires_grad=True)
    w = torch.randn(20, 8, requires_grad=True)
    t = torch.randint(0, 20, (10,))
    (3.0 * head.fused_head_loss(h, w, t, "cpu")).backward()
    h2, w2 = h.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    (3.0 * F.cross_entropy(h2 @ w2.T, t)).backward()
    torch.testing.assert_close(h.grad, h2.grad)
    torch.testing.assert_close(w.grad, w2.grad)


def test_fused_loss_under_bf16_autocast_returns_gradients_in_the_inputs_dtypes():
    h = torch.randn(10, 8, dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(20, 8, requires_grad=True)
    t = torch.randint(0, 20, (10,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = head.fused_head_loss(h, w, t, "cpu")
    loss.backward()
    assert loss.dtype == torch.float32 and h.grad.dtype == torch.bfloat16 and w.grad.dtype == torch.float32
    expected = F.cross_entropy(h.detach().float() @ w.detach().T, t)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_lm_precision_is_always_a_concrete_dtype():
    assert lm_precision("cpu", "auto") == "fp32"
    assert lm_precision("cpu", "bf16") == "bf16"
    assert lm_precision("cuda", "fp32") == "fp32"
    assert lm_precision("cuda", "auto") in ("bf16", "fp32")
