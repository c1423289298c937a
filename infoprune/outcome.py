"""A cell's outcome: its record, or the Failure it raised; the failure policy; writing either to the run folder.

Shared by the run's own loop (runbook.py) and its worker processes (workers.py).
"""

from __future__ import annotations

import dataclasses
import traceback
from typing import Callable, TypeVar

from .distributed import World
from .errors import CriterionError, UserError
from .pipeline import Cell
from .store import RunStore

T = TypeVar("T")


@dataclasses.dataclass
class Failure:
    """A cell that raised: its one-line error and traceback. `whole_run`: bad input, which stops the run."""

    error: str
    traceback: str
    whole_run: bool = False


def attempt(compute: Callable[[], T], world: World) -> T | Failure:
    """compute(), or the Failure it raised. Bad input (a UserError that is not a criterion's) is raised, as is
    any error under torchrun (the ranks cannot agree to skip work one of them is inside of)."""
    try:
        return compute()
    except Exception as exc:
        if world.distributed or (isinstance(exc, UserError) and not isinstance(exc, CriterionError)):
            raise
        error = str(exc) if isinstance(exc, CriterionError) else f"{type(exc).__name__}: {exc}"
        return Failure(error, traceback.format_exc())


def save(store: RunStore, cell: Cell, key: str, outcome: dict | Failure) -> None:
    """A finished cell's file, or its failure's, in the run folder."""
    if isinstance(outcome, Failure):
        store.write_failure(key, {"cell": cell.label, "ratio": cell.ratio, "seed": cell.seed,
                                  "error": outcome.error, "traceback": outcome.traceback})
    else:
        store.write_cell(outcome)
        store.clear_failure(key)


def describe(cell: Cell) -> str:
    return f"{cell.label} ratio={cell.ratio} seed={cell.seed}"
