"""Packing: every kept sample enters each epoch exactly once, after an end-of-text token, in a seeded order."""

import itertools

import numpy as np

from infoprune.samples import Sample
from infoprune.train import packed_batches

EOS = 0


def pool(n: int, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    return [Sample(f"s{i}", "x", "", rng.integers(1, 50, rng.integers(1, 30)).astype(np.int32), 10) for i in range(n)]


def one_by_one(samples, batch_size, seq_len, seed):
    """The plain definition: concatenate [eos, tokens] per sample in the epoch's order, cut into windows."""
    rng = np.random.default_rng(seed)
    window, carry = seq_len + 1, np.zeros(0, dtype=np.int64)
    while True:
        order = rng.permutation(len(samples))
        stream = np.concatenate([carry] + [np.concatenate(([EOS], samples[i].tokens)) for i in order])
        n = len(stream) // window
        windows = stream[: n * window].reshape(n, window)
        for b in range(0, n - batch_size + 1, batch_size):
            yield windows[b : b + batch_size]
        carry = np.concatenate([windows[(n // batch_size) * batch_size :].reshape(-1), stream[n * window :]])


def test_packing_equals_its_plain_definition_over_several_epochs():
    samples = pool(40)
    ours = itertools.islice(packed_batches(samples, EOS, 3, 16, seed=5), 60)  # about 5 epochs
    for got, expected in zip(ours, one_by_one(samples, 3, 16, 5)):
        np.testing.assert_array_equal(got.numpy(), expected)


def test_one_epoch_holds_every_sample_once_each_after_an_end_of_text_token():
    samples = pool(25, seed=1)
    window = 8
    n_windows = sum(len(s.tokens) + 1 for s in samples) // window  # the whole windows of the first epoch
    stream = np.concatenate([b.numpy().reshape(-1) for b in
                             itertools.islice(packed_batches(samples, EOS, 1, window - 1, 0), n_windows)])
    assert stream[0] == EOS
    pieces = [tuple(p) for p in np.split(stream, np.flatnonzero(stream == EOS))[1:]]
    complete = pieces[:-1]  # the last piece may be cut by the end of the last whole window
    by_tokens = {tuple(s.tokens.tolist()): s.id for s in samples}
    seen = [by_tokens[tuple(int(t) for t in p[1:])] for p in complete]
    assert len(seen) == len(set(seen)) >= len(samples) - 1
    assert seen != sorted(seen, key=lambda i: int(i[1:]))  # shuffled, not in pool order
