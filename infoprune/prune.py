"""Score once, prune many times: a table of every criterion's score per sample, and pruning from it.

This is how a user prunes their own corpus for their own training, outside the benchmark's cells.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import criterion as registry
from .atomic import atomic_write_bytes, atomic_write_text
from .config import CriterionSpec, Seeds
from .errors import UserError
from .pipeline import Pipeline
from .pooltable import INFO, info_frame, kept_line
from .progress import progress
from .select import select

INFO_COLUMNS = INFO + ["text"]


def score_table(pipe: Pipeline, specs: tuple[CriterionSpec, ...], seed: int = 0) -> pd.DataFrame:
    """One row per pool sample: its id, source, size and text, then one column per criterion label."""
    pool = pipe.samples["pool"]
    table = info_frame(pool)
    table["text"] = [s.text for s in pool]
    with progress(pipe.log, len(specs), "criteria") as advance:
        for spec in specs:
            pipe.log(f"scoring {spec.label}")
            table[spec.label] = pipe.scores(spec, seed)
            advance()
    return table


def write_scores(table: pd.DataFrame, path: Path) -> None:
    path = Path(path)
    if path.suffix == ".csv":
        atomic_write_text(path, table.to_csv(index=False))
    elif path.suffix == ".parquet":
        atomic_write_bytes(path, table.to_parquet(index=False))
    else:
        raise UserError(f"{path}: write scores to a .parquet or .csv file")


def read_scores(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise UserError(f"scores file {path} does not exist; write one with 'bench score'")
    try:
        table = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:
        raise UserError(f"{path} is not a readable scores file ({type(exc).__name__}: {exc})") from None
    if not set(INFO_COLUMNS) <= set(table.columns):
        raise UserError(f"{path} is not a scores file written by 'bench score' (columns {list(table.columns)})")
    return table


def prune(table: pd.DataFrame, label: str, ratio: float, mode: str | None = None, seed: int = 0) -> pd.DataFrame:
    """The kept rows of `table` by the scores in column `label`; `mode` defaults to the criterion's own.

    `seed` is a run seed: `sample` draws with its selection stream, so the kept set is that of the run's cell
    of the same criterion, ratio and seed (given the scores of that seed, for a seeded criterion).
    """
    criteria = [c for c in table.columns if c not in INFO_COLUMNS]
    if label not in criteria:
        raise UserError(f"the scores file has no criterion {label!r}; it has: {', '.join(criteria) or 'none'}")
    if mode is None:
        mode = registry.build(registry.parse_specs(label)[0]).keep
    kept = set(select(list(table["id"]), table[label].to_numpy(dtype=float), ratio, mode, Seeds.of(seed).selection))
    return table[table["id"].isin(kept)]


def write_kept(kept: pd.DataFrame, path: Path) -> None:
    atomic_write_text(Path(path), "".join(kept_line(r.id, r.source, r.text) for r in kept.itertuples()))
