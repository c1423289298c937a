"""What the report reads: one run folder's results store, loaded once.

The report never retrains or rescores: everything here comes from files that `bench run` (and `bench
diagnose --out`) wrote. Only `results.csv` is required. Every other part (manifest, cell records, pool,
scores, kept masks, diagnostic) may be missing or unreadable, as in a folder from an older version of the
suite: it then becomes None plus a note, and the report shows what it can.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..store import FULL

BASELINE = "random"  # the criterion every other one is tested against, ratio by ratio
TASK_METRIC = re.compile(r"^task/(.+)/acc_norm$")


def load_results(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / "results.csv"
    if not Path(run_dir).is_dir():
        raise UserError(f"run folder {run_dir} does not exist; give a folder written by 'bench run --out DIR'")
    if not path.exists():
        raise UserError(f"{run_dir} has no results.csv; is it a folder written by 'bench run'?")
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"{path} is not a readable results table: {exc}") from None
    if frame.empty:
        raise UserError(f"{path} holds no finished cells yet")
    missing = {"criterion", "ratio", "seed", "metric", "value"} - set(frame.columns)
    if missing:
        raise UserError(f"{path} lacks the columns {sorted(missing)}; is it a results table of 'bench run'?")
    frame["ratio"] = frame["ratio"].astype(float)
    frame["seed"] = frame["seed"].astype(int)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


@dataclass
class Run:
    dir: Path
    results: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)  # finished cells (cells/<key>.json)
    failures: list[dict] = field(default_factory=list)  # {criterion, ratio, seed, error}
    pool: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None  # id + one column per criterion, rows in pool order
    terms: pd.DataFrame | None = None  # id + one `criterion/term` column per term of a summed score
    diagnose: pd.DataFrame | None = None
    isa_check: dict | None = None  # what `bench isa-check` wrote: the run recomputed on other vector units
    notes: list[str] = field(default_factory=list)  # optional parts that could not be read
    _index: dict | None = field(default=None, repr=False)
    _info: dict = field(default_factory=dict, repr=False)

    # -- what the run holds ------------------------------------------------------------------------
    @property
    def criteria(self) -> list[str]:
        """Criterion labels, the baseline first, then by name (variants next to their criterion)."""
        labels = set(self.results.criterion.unique()) | {f["criterion"] for f in self.failures}
        labels.discard(FULL)
        return sorted(labels, key=lambda c: (c != BASELINE, c))

    @property
    def ratios(self) -> list[float]:
        found = set(self.results.ratio.unique()) | {float(f["ratio"]) for f in self.failures}
        return sorted(r for r in found if r > 0)

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.results.seed.unique())

    @property
    def config(self) -> dict:
        return self.manifest.get("config", {})

    def has(self, metric: str) -> bool:
        return bool((self.results.metric == metric).any())

    def values(self, metric: str, criterion: str, ratio: float) -> dict[int, float]:
        """{seed: value} of one cell; the full-data baseline is found at ratio 0 whatever `ratio` is."""
        if self._index is None:  # one pass over results.csv instead of a filter per table cell
            self._index = {}
            r = self.results
            for m, c, q, seed, v in zip(r.metric, r.criterion, r.ratio, r.seed, r.value):
                if np.isfinite(v):
                    self._index.setdefault((m, c, round(float(q), 9)), {})[int(seed)] = float(v)
        key = (metric, criterion, 0.0 if criterion == FULL else round(float(ratio), 9))
        return dict(self._index.get(key, {}))

    def failed_seeds(self, criterion: str, ratio: float) -> list[int]:
        return sorted({int(f["seed"]) for f in self.failures
                       if f["criterion"] == criterion and np.isclose(float(f["ratio"]), ratio)})

    @property
    def tasks(self) -> list[str]:
        return sorted({m.group(1) for m in map(TASK_METRIC.match, self.results.metric.unique()) if m})

    def chance(self, task: str) -> float | None:
        vals = self.results[self.results.metric == f"task/{task}/chance"].value.dropna()
        if len(vals):
            return float(vals.iloc[0])
        info = self.manifest.get("tasks", {}).get(task, {})
        return float(info["chance"]) if isinstance(info, dict) and "chance" in info else None

    # -- cell records and kept sets ------------------------------------------------------------------
    def record(self, criterion: str, ratio: float, seed: int | None = None) -> dict | None:
        """A finished cell's record: the given seed, or the first seed that has one."""
        found = sorted((r for r in self.records if r.get("criterion") == criterion
                        and (criterion == FULL or np.isclose(float(r.get("ratio", -1)), ratio))
                        and (seed is None or r.get("seed") == seed)), key=lambda r: r.get("seed", 0))
        return found[0] if found else None

    def mask(self, criterion: str, ratio: float, seed: int | None = None) -> np.ndarray | None:
        """The kept set of a cell as a bool array over the pool, or None where the cell stored none."""
        rec = self.record(criterion, ratio, seed)
        if rec is None or not rec.get("kept_mask"):
            return None
        try:
            bits = np.unpackbits(np.frombuffer(base64.b64decode(rec["kept_mask"]), dtype=np.uint8))
        except (ValueError, TypeError):
            return None
        n = len(self.pool) if self.pool is not None else self.manifest.get("split", {}).get("pool", {}).get("samples")
        if n is not None:
            if len(bits) < n:  # a mask of another pool: unusable
                return None
            bits = bits[:n]  # packbits pads to a whole byte with zeros
        return bits.astype(bool)

    def criterion_info(self, label: str) -> dict:
        """keep (selection mode), the service flags (uses_probe, uses_embedder, uses_target, seeded) and the
        services its scoring used: from the manifest, with what an older manifest lacks from the criterion's
        class; {} for a criterion that neither the manifest nor this installation knows."""
        if label not in self._info:
            listed = self.manifest.get("criteria_info", {}).get(label)
            self._info[label] = _class_info(label) | (listed if isinstance(listed, dict) else {})
        return self._info[label]

    @property
    def score_columns(self) -> list[str]:
        if self.scores is None:
            return []
        present = [c for c in self.scores.columns if c != "id"]
        return sorted(present, key=lambda c: (c != BASELINE, c))


def _class_info(label: str) -> dict:
    from .. import criterion as registry

    try:
        crit = registry.build(registry.parse_specs(label)[0])
    except Exception:  # a plugin that is not installed here: the report goes on without it
        return {}
    return {"keep": crit.keep, "pass_mark": crit.pass_mark,
            **{flag: bool(getattr(crit, flag)) for flag in registry.SERVICES.values()}}


def load_run(run_dir: Path) -> Run:
    run_dir = Path(run_dir)
    run = Run(dir=run_dir, results=load_results(run_dir))
    if (run_dir / "manifest.json").exists():
        try:
            run.manifest = json.loads((run_dir / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            run.notes.append(f"manifest.json is unreadable ({exc}); configuration and timings are left out")
    _load_cells(run)
    run.pool = _read_table(run, "pool.parquet")
    run.scores = _read_table(run, "scores.parquet")
    if run.pool is not None and run.scores is not None and "id" in run.scores and "id" in run.pool:
        if not run.scores["id"].equals(run.pool["id"]):  # align scores to pool order by id
            run.scores = run.pool[["id"]].merge(run.scores, on="id", how="left")
    run.terms = _read_table(run, "terms.parquet")
    if run.terms is not None and run.pool is not None and not run.terms["id"].equals(run.pool["id"]):
        run.terms = None  # terms of another pool
    run.diagnose = _read_table(run, "diagnose.csv")
    if (run_dir / "isa_check.json").exists():
        try:
            run.isa_check = json.loads((run_dir / "isa_check.json").read_text())
        except (OSError, ValueError) as exc:
            run.notes.append(f"isa_check.json is unreadable ({exc}); the check across CPUs is left out")
    if run.diagnose is not None and not {"criterion", "ratio", "kind", "pruned_share"} <= set(run.diagnose.columns):
        run.notes.append("diagnose.csv lacks the columns of 'bench diagnose'; Table 3 is left out")
        run.diagnose = None
    return run


def _read_table(run: Run, name: str) -> pd.DataFrame | None:
    path = run.dir / name
    if not path.exists():
        return None
    try:
        return pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
    except Exception as exc:  # an unreadable optional part must not stop the report
        run.notes.append(f"{name} is unreadable ({type(exc).__name__}: {exc}); what needs it is left out")
        return None


def _load_cells(run: Run) -> None:
    """Cell records and failures. With a manifest, only the cells it lists count: a folder may also hold
    stale cells of an earlier configuration, whose keys no longer appear there."""
    listed = {c["key"]: c for c in run.manifest.get("cells", []) if "key" in c}
    folder = run.dir / "cells"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        failed = path.name.endswith(".failed.json")
        key = path.name.removesuffix(".failed.json" if failed else ".json")
        if listed and key not in listed:
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            run.notes.append(f"cells/{path.name} is unreadable and left out")
            continue
        if failed:
            if not listed:  # with a manifest, its `failed` status below is the record
                run.failures.append({"criterion": rec.get("cell"), "ratio": rec.get("ratio"),
                                     "seed": rec.get("seed"), "error": rec.get("error", "")})
        elif not listed or listed[key].get("status", "done") == "done":
            run.records.append(rec)
    for c in listed.values():
        if c.get("status") == "failed":
            run.failures.append({k: c.get(k) for k in ("criterion", "ratio", "seed")} | {"error": c.get("error", "")})
    run.failures.sort(key=lambda f: (str(f["criterion"]), float(f["ratio"]), int(f["seed"])))
