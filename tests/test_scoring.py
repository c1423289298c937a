"""The batched scoring engine gives the same NLL as one sample at a time: padding changes nothing."""

import numpy as np
import torch

from conftest import make_documents

from infoprune.config import ModelConfig
from infoprune.model import build_model
from infoprune.samples import chunk
from infoprune.scoring import token_nll
from infoprune.tokenizer import eos_id, train_tokenizer


def test_batched_nll_equals_unbatched_and_a_plain_forward():
    docs = make_documents(20)
    tok = train_tokenizer(docs, 300)
    samples = chunk(docs, tok, 24)
    assert len({len(s.tokens) for s in samples}) > 3  # mixed lengths, so batches are padded
    model = build_model(ModelConfig(vocab_size=300, seq_len=24, d_model=32, n_layers=2, n_heads=2, d_ff=64), 0)
    batched = token_nll(model, samples, eos_id(tok), batch_tokens=200, precision="fp32")
    for s, nll in zip(samples, batched):
        ids = torch.tensor([[eos_id(tok), *s.tokens.tolist()]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids[:, :-1]).logits[0].float(), -1)
        expected = -logp[torch.arange(len(s.tokens)), ids[0, 1:]].numpy()
        assert nll.shape == (len(s.tokens),)
        np.testing.assert_allclose(nll, expected, rtol=1e-4, atol=1e-4)
