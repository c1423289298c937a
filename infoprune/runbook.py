"""The run's bookkeeping around the pipeline: which cells are done, running the rest under the failure
policy, and what the run folder records (results.csv, the pool tables, manifest.json).

`Pipeline` (pipeline.py) computes; this module decides what to compute and writes it down: the lock, so one
run at a time owns a folder; resume, by cell keys; a failing cell recorded without losing the others; and the
manifest built from what the pipeline recorded while it ran.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

from . import criterion as registry
from .config import RunConfig, Seeds
from .criterion import SERVICES
from .determinism import machine
from .distributed import World
from .model import build_model, count_params
from .outcome import Failure, attempt, describe, save
from .pipeline import Cell, Pipeline
from .progress import progress
from .store import RunStore
from .workers import run_in_workers, worker_threads
from .versions import package_versions


def run(cfg: RunConfig, log: Callable[[str], None] = print, world: World = World()) -> int:
    """Run every pending cell; return the number of cells that failed (their errors are in the run folder).

    Under torchrun every rank walks the same cells and shares each one's scoring, training and evaluation;
    the main rank alone holds the run lock and writes the run folder. There, a failing cell stops the job
    (the ranks cannot agree to skip work one of them is inside of); the cells finished before it are kept.
    """
    store = RunStore(Path(cfg.out))
    with store.lock() if world.is_main else nullcontext():
        pipe = Pipeline(cfg, log, world)
        cells = pipe.cells()
        keys = [pipe.cell_key(cell) for cell in cells]
        done = {k: rec for k in keys if (rec := store.load_cell(k, log)) is not None} if world.is_main else {}
        pending_keys = world.broadcast([k for k in keys if k not in done])
        pending = [(cell, k) for cell, k in zip(cells, keys) if k in pending_keys]
        # pipe.tasks checks the task names: an unknown one stops the run here, before any cell trains
        tasks = f"; downstream tasks: {', '.join(pipe.tasks) or 'none'}" if pending else ""
        log(f"run {pipe.run_key}: {len(cells)} cells, {len(done)} already done, {len(pending)} to run"
            + (f", on {world.size} processes" if world.distributed else "") + tasks)
        failures: dict[str, str] = {}
        with progress(log, len(pending), "cells") as advance:
            _run_cells(pipe, store, pending, done, failures, advance)
        if world.is_main:
            store.write_results([done[k] for k in keys if k in done])
        if world.broadcast(bool(pending) or not store.has_pool_tables()):
            scored = [spec for spec in cfg.criteria if not any(
                k in failures for c, k in zip(cells, keys) if c.spec == spec)]  # a failing criterion is not rerun
            tables = pipe.pool_tables(scored)  # every rank: scoring a criterion anew has collectives
            if world.is_main:
                store.write_pool_tables(*tables)
        if world.is_main:
            store.write_manifest(manifest(pipe, cells, keys, done, failures, store.read_manifest()))
            log(f"results: {store.out / 'results.csv'} ({len(done)} cells done, {len(failures)} failed)")
        return len(failures)


def _run_cells(pipe: Pipeline, store: RunStore, pending: list[tuple[Cell, str]], done: dict, failures: dict,
               advance: Callable[[], None]) -> None:
    """Run the pending cells, storing each as it finishes: in order, or in worker processes (workers.py). A
    failing cell is recorded and skipped (a failing criterion must not lose the other cells' work), except under
    torchrun or on bad input."""
    log, world = pipe.log, pipe.world

    def finished(key: str, outcome: dict | Failure) -> None:
        if isinstance(outcome, Failure):
            failures[key] = outcome.error
            log(f"  FAILED: {outcome.error}")
        else:
            done[key] = outcome
            m = outcome["metrics"]
            log(f"  bpb in-domain {m.get('bpb/in_domain', float('nan')):.4f}"
                f"  ood {m.get('bpb/ood', float('nan')):.4f}  ({outcome['seconds']['train']:.1f}s training)")
        advance()

    if pipe.cfg.workers > 1 and len(pending) > 1:
        run_in_workers(pipe, store, pending, finished)
        return
    t_start = time.time()
    for i, (cell, key) in enumerate(pending, 1):
        eta = ""
        if i > 1:
            eta = f", ~{(time.time() - t_start) / (i - 1) * (len(pending) - i + 1) / 60:.1f} min left"
        log(f"[cell {i}/{len(pending)}] {describe(cell)}{eta}")
        outcome = attempt(lambda: pipe.run_cell(cell, key), world)
        if world.is_main:
            save(store, cell, key, outcome)
        finished(key, outcome)


def criterion_info(crit: registry.Criterion, used: list[str] | None) -> dict:
    """What the report needs to know of a criterion: what it keeps, its flags, and the services it used."""
    info = {"keeps": crit.keeps, "keep": crit.keep, "version": crit.version, "per_sample": crit.per_sample,
            "pass_mark": crit.pass_mark}
    info |= {flag: getattr(crit, flag) for flag in SERVICES.values()}
    return info | ({"services_used": used} if used is not None else {})


def manifest(pipe: Pipeline, cells: list[Cell], keys: list[str], done: dict, failures: dict, previous: dict) -> dict:
    """The run's provenance. What this invocation did not recompute is kept from the previous manifest."""
    cfg = pipe.cfg
    info: dict = previous if previous.get("run_key") == pipe.run_key else {}
    info["timings"] = info.get("timings", {}) | pipe.timings
    # Stages this run did not pay for because an earlier one cached them, with what they cost there.
    info["cached_costs"] = {k: v for k, v in (info.get("cached_costs", {}) | pipe.cached_costs).items()
                            if k not in info["timings"]}
    info |= {
        "run_key": pipe.run_key,
        "config": cfg.to_dict(),
        "versions": package_versions(),
        "corpus": pipe.corpus.manifest | {"fingerprint": pipe.corpus.fingerprint},
        "seed_streams": {seed: dataclasses.asdict(Seeds.of(seed)) for seed in cfg.seeds},
        # workers: cell processes of `worker_threads` torch threads each; their cells' timings are theirs
        "machine": machine(cfg.device) | {"processes": pipe.world.size, "workers": cfg.workers,
                                          "worker_threads": worker_threads(cfg.workers)},
        "criteria_info": {spec.label: criterion_info(registry.build(spec), pipe.services.get(spec.label))
                          for spec in cfg.criteria},
        "score_cache_keys": pipe.score_keys,
        "cells": [
            {"key": k, "criterion": c.label, "ratio": c.ratio, "seed": c.seed,
             "status": "done" if k in done else "failed" if k in failures else "pending",
             **({"error": failures[k]} if k in failures else {})}
            for c, k in zip(cells, keys)
        ],
    }
    info |= pipe.recorded  # what this invocation built; the rest stays as an earlier invocation recorded it
    if any(registry.build(spec).uses_embedder for spec in cfg.criteria):
        from .embed import EMBED_VERSION, MODEL_NAME

        info["embedder"] = {"model": MODEL_NAME, "version": EMBED_VERSION, "precision": "fp64, stored as fp32"}
    model = build_model(cfg.model, 0)
    info["model"] = {"non_embedding_params": count_params(model), "params": count_params(model, non_embedding=False)}
    return info
