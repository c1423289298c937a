"""`bench isa-check`: recompute a run's scores (and, on request, its cells) on other vector units, and compare.

On one machine the suite's numbers do not depend on the thread count (determinism.py). Across CPUs with other
vector units (AVX2 against AVX-512) the last bits of a sum differ, and no library promises otherwise at full
speed. What a user needs to know is whether that moves anything that matters: this check recomputes, from an
empty data cache, the probe, the embeddings and every criterion's scores of one seed of a run, and compares
each kept set with the one the run stored; with `retrain`, it also retrains cells and compares their metrics.

`forced_env` restricts every library to AVX2 in a child process: torch's own kernels (ATEN_CPU_CAPABILITY),
MKL (MKL_ENABLE_INSTRUCTIONS), oneDNN (ONEDNN_MAX_CPU_ISA), numpy's SIMD loops (NPY_DISABLE_CPU_FEATURES),
OpenBLAS (OPENBLAS_CORETYPE) and inductor's generated C++ (its SIMD width, set by `compute` itself).
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .config import RunConfig, CriterionSpec, DataConfig, ModelConfig, TrainConfig
from .errors import UserError

ISAS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell"},
}
SIMD_BITS = {"avx2": 256}
MKL_BRANCHES = {10: "AVX2", 12: "AVX512", 14: "AVX512_E1"}  # mkl_cbwr_get_auto_branch's codes (mkl_service.h)


def forced_env(isa: str) -> dict[str, str]:
    if isa not in ISAS:
        raise UserError(f"unknown instruction set {isa!r}; valid: {', '.join(ISAS)}")
    return dict(os.environ) | ISAS[isa]


def config_of(run_dir: Path) -> RunConfig:
    """The RunConfig a run folder's manifest records."""
    if not (Path(run_dir) / "manifest.json").is_file():
        raise UserError(f"{run_dir} is not a run folder: it has no manifest.json (give a folder written by 'bench run')")
    try:
        manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
        c = manifest["config"]
        return RunConfig(**(c | {
            "criteria": tuple(CriterionSpec(s["name"], tuple(tuple(p) for p in s["params"])) for s in c["criteria"]),
            "ratios": tuple(c["ratios"]), "seeds": tuple(c["seeds"]), "tasks": tuple(c["tasks"]),
            "data": DataConfig(**c["data"]), "model": ModelConfig(**c["model"]),
            "train": TrainConfig(**c["train"]), "probe_train": TrainConfig(**c["probe_train"])}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{run_dir} is not a run folder of this version of 'bench run' (its manifest.json cannot be "
                        f"read as a run configuration: {type(exc).__name__}: {exc})") from None


def vector_units() -> dict:
    """What each library actually uses in this process."""
    import torch
    from threadpoolctl import threadpool_info

    from numpy._core._multiarray_umath import __cpu_features__

    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        mkl = MKL_BRANCHES.get(lib.mkl_serv_cbwr_get_auto_branch(), "other")
    except (OSError, AttributeError):
        mkl = "none"
    np.ones((8, 8)) @ np.ones((8, 8))  # loads numpy's BLAS, so that threadpoolctl finds it
    blas = sorted({i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"} - {None})
    return {"torch": torch.backends.cpu.get_cpu_capability(), "mkl": mkl, "numpy_avx512": bool(__cpu_features__.get(
        "X86_V4")), "openblas": ", ".join(blas) or "none"}


def cell_records(run_dir: Path) -> list[dict]:
    """The run's finished cells, as its manifest lists them (a resumed folder may hold stale ones too)."""
    listed = {c["key"] for c in json.loads((Path(run_dir) / "manifest.json").read_text())["cells"]
              if c.get("status") == "done"}
    return [json.loads((Path(run_dir) / "cells" / f"{key}.json").read_text()) for key in sorted(listed)]


def stored_masks(run_dir: Path, seed: int) -> dict[tuple[str, float], np.ndarray]:
    """{(criterion, ratio): kept mask over the pool} of the run's cells of `seed`."""
    n = len(pd.read_parquet(Path(run_dir) / "pool.parquet", columns=["id"]))
    masks = {}
    for rec in cell_records(run_dir):
        if rec.get("seed") == seed and rec.get("kept_mask"):
            bits = np.unpackbits(np.frombuffer(base64.b64decode(rec["kept_mask"]), dtype=np.uint8))[:n]
            masks[(rec["criterion"], float(rec["ratio"]))] = bits.astype(bool)
    return masks


def compute(run_dir: Path, seed: int, retrain: str, data_dir: Path, simd_bits: int | None,
            log: Callable[[str], None]) -> dict:
    """In this process: score the run's pool anew and compare kept sets, scores and (retrained) metrics."""
    from . import criterion as registry
    from .config import Seeds
    from .pipeline import Pipeline
    from .select import select

    if simd_bits:
        import torch._inductor.config

        torch._inductor.config.cpp.simdlen = simd_bits
    run_dir = Path(run_dir)
    cfg = replace(config_of(run_dir), data_dir=str(data_dir), out=str(data_dir / "unused"))
    if seed not in cfg.seeds:
        raise UserError(f"{run_dir} has no seed {seed}; its seeds are {', '.join(map(str, cfg.seeds))}")
    pipe = Pipeline(cfg, log)
    pool = pipe.samples["pool"]
    stored_pool = pd.read_parquet(run_dir / "pool.parquet", columns=["id"])
    if list(stored_pool.id) != [s.id for s in pool]:
        raise UserError(f"the pool rebuilt here is not {run_dir}'s pool (another corpus or tokenizer); "
                        "nothing to compare")
    stored_scores = pd.read_parquet(run_dir / "scores.parquet")
    masks = stored_masks(run_dir, seed)
    ids = [s.id for s in pool]
    rows = []
    for spec in cfg.criteria:
        crit = registry.build(spec)
        scores = pipe.scores(spec, seed)
        row = {"criterion": spec.label}
        if spec.label in stored_scores and seed == cfg.seeds[0]:  # scores.parquet holds the first seed's scores
            before = stored_scores[spec.label].to_numpy(dtype=float)
            row["max_rel_score_diff"] = float(np.max(np.abs(scores - before) / np.maximum(np.abs(before), 1e-12)))
        for ratio in cfg.ratios:
            kept = np.isin(ids, select(ids, scores, ratio, crit.keep, Seeds.of(seed).selection))
            stored = masks.get((spec.label, float(ratio)))
            row[f"differ@{ratio:g}"] = None if stored is None else int((kept != stored).sum())
        rows.append(row)
        log(f"isa-check: {spec.label}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "criterion"))
    metrics = []
    if retrain != "none":
        records = {(r["criterion"], float(r["ratio"]), r["seed"]): r for r in cell_records(run_dir)}
        cells = [c for c in pipe.cells() if c.seed == seed and (retrain == "all" or c.spec is None)]
        for cell in cells:
            stored = records.get((cell.label, float(cell.ratio), seed))
            if stored is None:
                continue
            fresh = pipe.run_cell(cell, pipe.cell_key(cell))["metrics"]
            for name, value in fresh.items():
                if name in stored["metrics"]:
                    metrics.append({"criterion": cell.label, "ratio": cell.ratio, "metric": name,
                                    "run": stored["metrics"][name], "here": value,
                                    "abs_diff": abs(value - stored["metrics"][name])})
            log(f"isa-check: retrained {cell.label} ratio {cell.ratio}")
    return {"vector_units": vector_units(), "seed": seed, "kept": rows, "metrics": metrics,
            "pool_samples": len(pool)}


def report(result: dict, isa: str, machine: dict) -> str:
    """The check's Markdown: what ran where, kept sets and scores, and the metrics' tolerance."""
    units = result["vector_units"]
    kept = pd.DataFrame(result["kept"])
    differ = [c for c in kept.columns if c.startswith("differ@")]
    same = int((kept[differ] == 0).to_numpy().sum())
    out = [f"# isa-check: seed {result['seed']} recomputed under {isa}",
           "",
           f"Run on {machine.get('cpu_model', '?')} ({', '.join(machine.get('vector_extensions', [])) or '?'}), "
           f"restricted to {isa}: torch kernels {units['torch']}, MKL branch {units['mkl']}, numpy AVX-512 loops "
           f"{'on' if units['numpy_avx512'] else 'off'}, OpenBLAS {units['openblas']}. From an empty data cache (the "
           "corpus text aside): the tokenizer, probe, embeddings and every score were computed again.",
           "",
           f"Kept sets identical to the run's: {same} of {kept[differ].notna().to_numpy().sum()} "
           f"(criterion, ratio) cells of seed {result['seed']}, over a pool of {result['pool_samples']:,} samples. "
           "differ@r: samples kept in one and not the other at ratio r. max_rel_score_diff: the largest relative "
           "change of a score.",
           "",
           kept.to_markdown(index=False, floatfmt=".3g")]
    if result["metrics"]:
        m = pd.DataFrame(result["metrics"])
        by = m.groupby("metric")["abs_diff"].max().reset_index().rename(columns={"abs_diff": "max |diff|"})
        main = by[by.metric.isin(["bpb/in_domain", "bpb/ood", "downstream/centered"])]
        out += ["", f"Retrained {m[['criterion', 'ratio']].drop_duplicates().shape[0]} cells; the largest absolute "
                "difference of each metric from the run's value:", "", main.to_markdown(index=False, floatfmt=".3g"),
                "", f"Over all {len(by)} metrics (per-source ones included), the largest difference is "
                f"{by['max |diff|'].max():.3g}, of {by.loc[by['max |diff|'].idxmax(), 'metric']}."]
    return "\n".join(out) + "\n"


def seed_corpus(data_dir: Path, into: Path) -> None:
    """Copy the cached corpus text (and task files: text too), so the check refetches nothing it need not."""
    for part in ("corpus", "tasks"):
        if (Path(data_dir) / part).is_dir() and not (into / part).exists():
            shutil.copytree(Path(data_dir) / part, into / part)
