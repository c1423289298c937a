"""The probe LM whose per-token NLL the likelihood criteria read: trained once, cached on what shapes its weights.

`--probe own` trains it on the probe slice, `--probe pool` on the pool itself; `--probe smollm2` (pretrained,
see pretrained.py) needs no training and is handled by the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .atomic import read_meta, write_meta
from .config import RunConfig, derive_seed, stable_hash
from .determinism import where
from .distributed import World
from .model import build_model, load_model, save_model
from .samples import Sample, fingerprint, n_tokens
from .train import train
from .versions import MODELS_VERSION, package_versions


def probe_key(cfg: RunConfig, train_on: Sequence[Sample]) -> str:
    on_gpu = () if cfg.device == "cpu" else (cfg.device,)  # as in RunConfig.fingerprint_dict
    return stable_hash("probe", MODELS_VERSION, package_versions(), cfg.probe, cfg.model, cfg.probe_train,
                       cfg.probe_seed, fingerprint(list(train_on)), *on_gpu)


def load_or_train_probe(
    cfg: RunConfig, train_on: Sequence[Sample], eos: int, data_dir: Path, log: Callable[[str], None],
    world: World = World(),
) -> tuple[object, dict]:
    """The probe model and what its training cost: {seconds, where}, plus `cached: True` when it came from the
    cache (then it is what the training cost where it ran; {} for a cache entry that did not record it)."""
    folder = Path(data_dir) / "probes" / probe_key(cfg, train_on)
    if world.broadcast((folder / "model.safetensors").exists()):
        try:
            return load_model(folder), read_meta(folder / "model.safetensors") | {"cached": True}
        except Exception as exc:
            log(f"warning: cached probe {folder} is unreadable ({exc}); retraining")
    on = "whole pool" if cfg.probe == "pool" else "probe slice"
    log(f"probe: training on the {on} ({n_tokens(list(train_on))} tokens)")
    model = build_model(cfg.model, derive_seed(cfg.probe_seed, "probe_init"))
    stats = train(model, train_on, cfg.probe_train, cfg.model.seq_len, eos,
                  derive_seed(cfg.probe_seed, "probe_data_order"), cfg.device, log, world)
    how = "compiled" if stats.compiled else "eager"
    log(f"probe: {stats.steps} steps ({how}) in {stats.seconds:.1f}s, final loss {stats.final_loss:.3f}")
    cost = {"seconds": round(stats.seconds, 3), "where": where(cfg.device)}
    if world.is_main:
        write_meta(folder / "model.safetensors", cost)  # before the weights: their presence marks the entry whole
        save_model(model, folder)
    return model, cost
