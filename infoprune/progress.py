"""Progress of a long loop (cells, criteria, shards), for a logger that can show it and a no-op for any other.

The library logs through a plain `log(msg)` callable. The CLI's logger (bench/log.py) also has a `progress`
method that draws a live bar on a terminal; `progress(log, ...)` uses it when it is there.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def progress(log: Callable[[str], None], total: int, unit: str) -> Iterator[Callable[[], None]]:
    """Yield `advance()`, to call once per finished unit of `total`."""
    start = getattr(log, "progress", None)
    if start is None or total <= 0:
        yield lambda: None
        return
    with start(total, unit) as advance:
        yield advance
