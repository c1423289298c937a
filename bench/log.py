"""The CLI's one logger: timestamped lines on stderr, and on a terminal a live progress bar with an ETA.

Piped to a file, it prints the lines alone. Under torchrun only the main rank speaks, or each rank with its
tag where every rank does its own work (prune-corpus shards).
"""

from __future__ import annotations

import shutil
import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Logger:
    def __init__(self, world=None, every_rank: bool = False, stream: TextIO | None = None) -> None:
        self.t0 = time.time()
        self.stream = stream if stream is not None else sys.stderr
        self.speaks = world is None or world.is_main or every_rank
        self.tag = f" rank {world.rank}:" if every_rank and world is not None and world.distributed else ""
        self.bar = None

    def __call__(self, msg: str) -> None:
        if not self.speaks:
            return
        line = f"[{time.time() - self.t0:7.1f}s]{self.tag} {msg}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)  # above the bar, which stays at the bottom
        else:
            print(line, file=self.stream, flush=True)

    @contextmanager
    def progress(self, total: int, unit: str) -> Iterator:
        """A bar of `total` units (done, left, elapsed, ETA) on a terminal; nothing more when piped."""
        if not (self.speaks and self.stream.isatty()) or self.bar is not None:
            yield lambda: None
            return
        from tqdm import tqdm

        # A terminal that reports no size (some pseudo-terminals do) gets 100 x 24: tqdm hides a bar below the
        # last row, so a height of 0 would hide it.
        size = shutil.get_terminal_size((100, 24))
        self.bar = tqdm(total=total, unit=f" {unit}", file=self.stream, ncols=size.columns or 100,
                        nrows=size.lines or 24, leave=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt}{unit} done, {remaining} left [{elapsed}]")
        try:
            yield lambda: self.bar.update(1)
        finally:
            self.bar.close()
            self.bar = None
