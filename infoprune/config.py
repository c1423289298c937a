"""Typed configuration of a run. `bench/presets.py` is the one place that builds these from the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    """Where corpora, tokenizers, probes and scores are cached: $INFOPRUNE_DATA or ~/.cache/infoprune."""
    return Path(os.environ.get("INFOPRUNE_DATA") or Path.home() / ".cache" / "infoprune")


@dataclass(frozen=True)
class DataConfig:
    """Which corpus, and how many bytes of it go to each part of the split."""

    corpus: str = "default"
    probe_bytes: int = 1_000_000
    pool_bytes: int = 4_000_000
    test_bytes: int = 300_000  # in-domain held-out text that evaluation reads (and no criterion)
    dev_bytes: int = 250_000  # held-out text that criteria with a target distribution may read
    ood: str = "austen/persuasion"  # document-id prefix (or source name) held out of all training
    ood_bytes: int = 200_000  # cap on the out-of-domain text that is evaluated
    split_seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """A small Llama-style decoder; every cell and the probe use the same shape."""

    vocab_size: int = 4096
    seq_len: int = 128
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512


COMPILE_MODES = ("auto", "on", "off")


BUDGET_KINDS = ("tokens", "epochs")


def parse_budget(text: str) -> tuple[str, float]:
    """`tokens:N` (a fixed token count) or `epochs:N` (passes over the kept set) -> (kind, N); ValueError else."""
    kind, _, amount = text.partition(":")
    value = float(amount)
    if kind not in BUDGET_KINDS or not value > 0:
        raise ValueError(f"not a budget: {text!r}")
    return kind, value


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and budget. `budget` is `tokens:N` (compute-matched) or `epochs:N` over the kept set."""

    budget: str = "tokens:300000"
    batch_size: int = 16
    lr: float = 3e-3
    min_lr_frac: float = 0.1
    warmup_frac: float = 0.05
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    precision: str = "auto"  # auto | bf16 | fp32
    compile: str = "auto"  # auto | on | off: torch.compile the training objective (compiled.py says when auto does)

    def budget_tokens(self, kept_tokens: int) -> int:
        kind, amount = parse_budget(self.budget)
        return int(amount) if kind == "tokens" else int(amount * kept_tokens)


@dataclass(frozen=True)
class CriterionSpec:
    """A criterion name plus its parameter overrides, e.g. `perplexity:keep=middle`."""

    name: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.params)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results (`out` and `data_dir` only say where they go)."""

    preset: str = "default"
    criteria: tuple[CriterionSpec, ...] = ()
    ratios: tuple[float, ...] = (0.25, 0.5, 0.75)
    seeds: tuple[int, ...] = (0,)
    probe: str = "own"  # own: trained on the probe slice; pool: on the whole pool; smollm2: pretrained
    probe_seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    probe_train: TrainConfig = field(default_factory=TrainConfig)
    eval_batch_size: int = 32
    tasks: tuple[str, ...] = ()  # downstream tasks: local task names (infoprune/tasks) or lm-eval hub names
    task_limit: int = 0  # items evaluated per task; 0: all of them
    keep_models: bool = True  # keep each cell's trained weights in the data cache, so new tasks need no retraining
    device: str = "cpu"  # cpu | cuda (the CLI resolves `auto`)
    workers: int = 1  # cells measured at once, each in a process of its own (workers.py); results never change
    out: str = "runs/default"
    data_dir: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint_dict(self) -> dict:
        """The part of the config that changes results: everything but where things are written."""
        d = self.to_dict()
        for k in ("out", "data_dir", "device", "criteria", "ratios", "seeds", "keep_models", "workers"):
            d.pop(k)
        if self.device != "cpu":  # CUDA kernels and bf16 change the numbers; CPU runs keep their keys
            d["device"] = self.device
        return d

    def training_dict(self) -> dict:
        """The part that changes a cell's trained model: the fingerprint less the evaluation settings."""
        d = self.fingerprint_dict()
        for k in ("tasks", "task_limit"):
            d.pop(k)
        return d


def stable_hash(*parts: object, n: int = 16) -> str:
    """A short hex digest of JSON-serialisable parts; the key of every cache and cell."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def derive_seed(seed: int, stream: str) -> int:
    """One independent seed per purpose, from a config seed; `Seeds` names the purposes of a run seed."""
    return int(stable_hash(seed, stream, n=8), 16)


@dataclass(frozen=True)
class Seeds:
    """The streams of one run seed (`--seeds`), derived once, here: every command that draws for seed S uses these.

    `bench prune --seed S` and `bench prune-corpus --seed S` select with `selection`, as the run's cells of seed S
    do, so any cell's kept set can be reproduced from a scores file.
    """

    init: int  # the cell model's initial weights
    data_order: int  # the order of its training windows
    selection: int  # seeded criteria (random) and the `sample` selection mode
    diagnose: int  # the junk `bench diagnose` plants

    @classmethod
    def of(cls, seed: int) -> "Seeds":
        return cls(**{f.name: derive_seed(seed, f.name) for f in dataclasses.fields(cls)})
