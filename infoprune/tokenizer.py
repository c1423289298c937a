"""A byte-level BPE tokenizer trained on the probe slice with `tokenizers`, cached by what it was trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from .atomic import read_entry, write_checked
from .config import stable_hash
from .documents import Document

EOS = "<|endoftext|>"
TOKENIZER_VERSION = "1"


def train_tokenizer(documents: list[Document], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((d.text for d in documents), trainer=trainer, length=len(documents))
    return tok


def load_or_train(documents: list[Document], vocab_size: int, cache_dir: Path, log=print) -> Tokenizer:
    """Train once per (probe documents, vocab size); later runs read the cached JSON."""
    key = stable_hash(TOKENIZER_VERSION, vocab_size, [(d.id, d.text) for d in documents])
    path = cache_dir / "tokenizers" / f"bpe-{vocab_size}-{key}.json"
    data, problem = read_entry(path)
    if data is not None:
        return Tokenizer.from_str(data.decode("utf-8"))
    if problem:  # a corrupt or unchecked cache entry is rebuilt, never trusted
        log(f"warning: tokenizer cache {path} {problem}; retraining")
    tok = train_tokenizer(documents, vocab_size)
    write_checked(path, tok.to_str().encode("utf-8"))
    log(f"tokenizer: trained byte-level BPE, vocab {tok.get_vocab_size()}, on {len(documents)} probe documents")
    return tok


def eos_id(tok: Tokenizer) -> int:
    return tok.token_to_id(EOS)


def bytes_per_token(tok: Tokenizer) -> np.ndarray:
    """UTF-8 bytes each token id stands for: in byte-level BPE every symbol of a token is one byte."""
    table = np.zeros(tok.get_vocab_size(), dtype=np.int64)
    for token, idx in tok.get_vocab().items():
        table[idx] = 0 if token == EOS else len(token)
    return table
