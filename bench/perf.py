"""`python -m bench perf`: throughput of scoring and training against this machine's limits.

Everything is measured in one process, on the default preset's model and pool (or another preset's with
`--preset`, e.g. the 124M paper model on a GPU), with contenders run side by side in short round-robin turns
(infoprune/perf.py) so that load from other processes hits all of them alike: the ratios are the result, the
absolute tokens/s move with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from infoprune.config import default_data_dir

TRAIN_TURN_STEPS = 40  # optimizer steps per timed training turn, for ours and transformers.Trainer alike
# Pool samples per timed scoring turn of the engine and the forward limit: about 2.5 s of the engine on
# 2 cores. With 1,024 (0.6 s turns) a few seconds of load from other processes moved the engine's median
# by up to 20% (3.03x to 3.40x the naive loop in four runs, 2.77x in a fifth).
SCORING_SAMPLES = 4096
# The naive loop scores an even stride of those samples: a quarter, or fewer so that it stays near this many
# tokens a turn. On 2 cores that is the quarter (87k of 350k tokens, ~2.5 s); on a GPU, where the naive
# loop ran at about 12.6k tokens/s (517k / 41x, H200, paper model), a quarter of 4,096 samples of up to
# 1,024 tokens would take up to 80 s a turn (derived, not run).
NAIVE_TURN_TOKENS = 100_000
DENSITY_SIZES = (1_000, 10_000, 100_000)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the measurements as one JSON object")
    p.add_argument("--data-dir", help="cache of corpora (default $INFOPRUNE_DATA or ~/.cache/infoprune); "
                   "the smoke run copies nothing from it but the corpus, so every stage is really timed")
    p.add_argument("--rounds", type=int, default=5, help="timed turns per contender (median reported)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available); the smoke run stays on the preset's")
    p.add_argument("--skip-smoke", action="store_true", help="leave out the stage breakdown of a smoke run")
    p.add_argument("--preset", default="default", help="whose model and pool are measured (default: default; "
                   "'paper' measures the 124M model, for a GPU)")
    p.add_argument("--corpus", help="corpus spec of the measured pool (default: the preset's own)")


def main(args: argparse.Namespace) -> int:
    from .log import Logger

    log = Logger()
    data_dir = Path(args.data_dir or default_data_dir())
    t0 = time.time()
    result = measure(data_dir, args.rounds, not args.skip_smoke, log, args.device, args.preset, args.corpus)
    result["perf_seconds"] = round(time.time() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(summary(result))
    return 0


def measure(data_dir: Path, rounds: int, smoke: bool, log, device: str | None = None,
            preset_name: str = "default", corpus: str | None = None) -> dict:
    from dataclasses import replace

    import torch

    from infoprune.determinism import machine
    from infoprune.distributed import resolve_device
    from infoprune.perf import matmul_gflops

    from .presets import preset

    cfg = preset(preset_name)
    device = resolve_device(device or "auto")
    cfg = replace(cfg, device=device, data=replace(cfg.data, corpus=corpus or cfg.data.corpus))
    pool = pool_samples(cfg, data_dir, log)  # first, so that a bad --corpus fails before anything is timed
    log("perf: matmul peaks")
    n = 8192 if cfg.device == "cuda" else 2048
    peaks = {"fp32": matmul_gflops(torch.float32, cfg.device, n), "bf16": matmul_gflops(torch.bfloat16, cfg.device, n)}
    out: dict = {
        "machine": machine(device),
        "preset": cfg.preset,
        "corpus": cfg.data.corpus,
        "matmul_peak_gflops": {k: round(v, 1) for k, v in peaks.items()},
    }
    out |= scoring(cfg, pool, rounds, log)
    out |= training(cfg, pool, rounds, peaks, log)
    out["matmul_peak_gflops"] = {k: round(v, 1) for k, v in peaks.items()}
    out["density_seconds_by_n"] = density_times(log)
    if smoke:
        out["smoke_stages_seconds"] = smoke_breakdown(data_dir, log)
    return out


def pool_samples(cfg, data_dir: Path, log):
    from dataclasses import replace

    from infoprune.pipeline import Pipeline

    pipe = Pipeline(replace(cfg, data_dir=str(data_dir)), lambda m: None)
    log(f"perf: {cfg.preset} pool of {cfg.data.corpus} ({len(pipe.samples['pool'])} samples)")
    return pipe.samples["pool"], pipe.eos


def scoring(cfg, pool, rounds: int, log) -> dict:
    """Our engine vs a naive one-sample loop and vs the plain forward on ready full batches."""
    import torch

    from infoprune.model import autocast, build_model, lm_precision
    from infoprune.perf import side_by_side
    from infoprune.scoring import token_nll

    samples, eos = pool
    device, precision = cfg.device, lm_precision(cfg.device, cfg.train.precision)
    model = build_model(cfg.model, 0).to(device).eval()
    batch_tokens = cfg.eval_batch_size * cfg.model.seq_len
    # An even stride through the pool: its order is by document, so a leading slice would be one source's.
    subset = samples[:: max(1, len(samples) // SCORING_SAMPLES)][:SCORING_SAMPLES]
    real_tokens = sum(len(s.tokens) for s in subset)
    naive_subset = subset[:: max(4, real_tokens // NAIVE_TURN_TOKENS)]
    full = torch.randint(1, cfg.model.vocab_size, (cfg.eval_batch_size, cfg.model.seq_len), device=device)

    def engine() -> int:
        token_nll(model, subset, eos, batch_tokens, device, cfg.train.precision)
        return real_tokens

    def naive() -> int:  # one sample at a time, plain forward, log-softmax over the logits
        n = 0
        with torch.no_grad():
            for s in naive_subset:
                ids = torch.tensor([[eos, *s.tokens.tolist()]], device=device)
                with autocast(device, precision):
                    logits = model(ids[:, :-1]).logits
                logp = torch.log_softmax(logits[0].float(), -1)
                logp[torch.arange(len(s.tokens)), ids[0, 1:]].cpu().numpy()
                n += len(s.tokens)
        return n

    def limit() -> int:  # the model's own forward on ready full batches: no data handling, no NLL
        with torch.inference_mode(), autocast(device, precision):
            for _ in range(max(1, real_tokens // full.numel())):
                model(input_ids=full).logits
        return max(1, real_tokens // full.numel()) * full.numel()

    log("perf: scoring, side by side (engine, naive loop, forward limit)")
    rates = side_by_side({"engine": engine, "naive": naive, "limit": limit}, rounds, device)
    padded = padding_waste(subset, batch_tokens)
    return {
        "scoring_tokens_per_s": {k: round(v) for k, v in rates.items()},
        "scoring_precision": precision,
        "scoring_padding_waste": round(padded, 4),
        "scoring_speedup_vs_naive": round(rates["engine"] / rates["naive"], 2),
        "scoring_fraction_of_forward_limit": round(rates["engine"] / rates["limit"], 3),
    }


def padding_waste(samples, batch_tokens: int) -> float:
    """Share of padded positions in the engine's own batch plan (each row is a sample plus its start token)."""
    from infoprune.scoring import length_batches

    widths = [len(s.tokens) + 1 for s in samples]
    plan = length_batches([w - 1 for w in widths], [s.id for s in samples], batch_tokens)
    padded = sum(len(batch) * widths[batch[-1]] for batch in plan)
    return 1 - sum(widths) / padded


def training(cfg, pool, rounds: int, peaks: dict, log) -> dict:
    """Our trainer vs transformers.Trainer on the same model, windows and batch; MFU of ours."""
    from dataclasses import replace

    import infoprune.train as trainer
    from infoprune.compiled import compiles
    from infoprune.model import build_model, lm_precision
    from infoprune.perf import flops_per_token, side_by_side

    samples, eos = pool
    device, precision = cfg.device, lm_precision(cfg.device, cfg.train.precision)
    L, B = cfg.model.seq_len, cfg.train.batch_size
    # Short turns, trained the way one of the preset's cells is: compiled if a cell would be.
    compiled = compiles(cfg.train, device, trainer.planned_steps(samples, cfg.train, L))
    turn = replace(cfg.train, budget=f"tokens:{TRAIN_TURN_STEPS * B * L}", compile="on" if compiled else "off")
    turn_seconds: list[float] = []

    def ours() -> int:
        t0 = time.perf_counter()
        tokens = trainer.train(build_model(cfg.model, 1), samples, turn, L, eos, 0, device).tokens
        turn_seconds.append(time.perf_counter() - t0)
        return tokens

    scratch = tempfile.TemporaryDirectory(prefix="ip-hf-trainer-")  # Trainer wants an output_dir; it saves nothing
    hf = hf_trainer_turn(cfg, samples, eos, precision, device, scratch.name)
    # The matmul peak takes turns with the trainers, so that MFU divides two rates measured under the same
    # load: a peak taken in a quiet second and training in a busy one would understate it, and vice versa.
    peak = matmul_turn(precision, device)
    log("perf: training, side by side (ours, transformers.Trainer, matmul peak)")
    best: dict[str, float] = {}
    with scratch:
        rates = side_by_side({"ours": ours, "hf_trainer": hf, "matmul_flops": peak}, rounds, device, best)
    # The standalone peak is one 2 s sample: a burst of load then understates it, so the best matmul turn
    # seen here counts too.
    peaks[precision] = max(peaks[precision], best["matmul_flops"] / 1e9)
    flops = flops_per_token(cfg.model, training=True)
    return {
        "train_tokens_per_s": {k: round(v) for k, v in rates.items() if k != "matmul_flops"},
        "train_precision": precision,
        "train_compiled": compiled,
        # The untimed first turn's extra time: the compile (or eager warm-up) one run pays once per model shape.
        "train_first_turn_extra_seconds": round(turn_seconds[0] - statistics.median(turn_seconds[1:]), 1),
        "train_speedup_vs_hf_trainer": round(rates["ours"] / rates["hf_trainer"], 2),
        "train_flops_per_token": flops,
        "train_mfu": round(rates["ours"] * flops / rates["matmul_flops"], 3),
        "train_mfu_vs_matmul_peak": round(rates["ours"] * flops / (peaks[precision] * 1e9), 3),
        "matmul_gflops_during_training": round(rates["matmul_flops"] / 1e9, 1),
    }


def matmul_turn(precision: str, device: str, reps: int = 24):
    """A turn of n x n x n matmuls in the training dtype, about as long as a training turn; returns FLOPs."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n = 8192 if device == "cuda" else 2048  # big enough to reach the peak of a GPU
    a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)

    def turn() -> float:
        for _ in range(reps):
            torch.mm(a, b, out=out)
        return 2.0 * n**3 * reps

    return turn


def hf_trainer_turn(cfg, samples, eos, precision: str, device: str, tmp: str):
    """One turn of transformers.Trainer: TRAIN_TURN_STEPS steps on the same packed windows and batch."""
    from transformers import PrinterCallback, Trainer, TrainingArguments

    from infoprune.model import build_model
    from infoprune.train import packed_batches

    L, B, tc = cfg.model.seq_len, cfg.train.batch_size, cfg.train
    gen = packed_batches(samples, eos, B, L, 0)
    # transformers shifts labels itself, so each row is the first L tokens of our (L + 1)-token window.
    rows = [row[:L] for _ in range(TRAIN_TURN_STEPS) for row in next(gen)]
    data = [{"input_ids": r, "labels": r} for r in rows]

    def turn() -> int:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=B, max_steps=TRAIN_TURN_STEPS, learning_rate=tc.lr,
            weight_decay=tc.weight_decay, adam_beta1=0.9, adam_beta2=0.95, max_grad_norm=tc.grad_clip,
            lr_scheduler_type="cosine", warmup_steps=max(1, int(tc.warmup_frac * TRAIN_TURN_STEPS)),
            bf16=precision == "bf16", use_cpu=device == "cpu", report_to="none", save_strategy="no",
            logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=0,
        )
        trainer = Trainer(model=build_model(cfg.model, 1), args=args, train_dataset=data)
        trainer.remove_callback(PrinterCallback)  # it prints the final metrics to stdout, which --json owns
        trainer.train()
        return TRAIN_TURN_STEPS * B * L

    return turn


def density_times(log) -> dict:
    """The density criterion, scored through the registry, at growing N on synthetic clustered 384-d embeddings
    (the context hands it the vectors, as the embedder would)."""
    from types import SimpleNamespace

    import numpy as np

    from infoprune import criterion as registry
    from infoprune.perf import timed

    density = registry.build(registry.parse_specs("density")[0])

    log("perf: density at N = " + ", ".join(f"{n:,}" for n in DENSITY_SIZES))
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, 384)).astype(np.float32)
    out = {}
    for n in DENSITY_SIZES:
        x = centres[rng.integers(0, 200, n)] + 0.3 * rng.standard_normal((n, 384)).astype(np.float32)
        samples = [SimpleNamespace(id=str(i)) for i in range(n)]
        ctx = registry.ScoringContext(embed=lambda _, x=x: x)
        _, seconds = timed(lambda: registry.score(density, samples, ctx, 0))
        out[str(n)] = round(seconds, 3)
    return out


def smoke_breakdown(data_dir: Path, log) -> dict:
    """Stage times of `run --preset smoke --criteria all` in a fresh cache that holds only the corpus."""
    from dataclasses import replace

    from infoprune.criterion import parse_specs
    from infoprune.runbook import run
    from infoprune.report import report

    from .presets import PRESETS

    with tempfile.TemporaryDirectory(prefix="ip-perf-smoke-") as tmp:
        fresh = Path(tmp) / "data"
        fresh.mkdir()
        for part in ("corpus", "apt"):  # the corpus build is a one-off download, not a stage of a run
            if (data_dir / part).exists():
                (fresh / part).symlink_to((data_dir / part).resolve())
        cfg = replace(PRESETS["smoke"], criteria=parse_specs("all"), out=str(Path(tmp) / "out"), data_dir=str(fresh))
        log("perf: smoke run, all criteria (about 3 minutes)")
        t0 = time.time()
        run(cfg, lambda m: None)
        t1 = time.time()
        report(Path(cfg.out))
        t2 = time.time()
        manifest = json.loads((Path(cfg.out) / "manifest.json").read_text())
        cells = [json.loads(p.read_text()) for p in sorted((Path(cfg.out) / "cells").glob("*[0-9a-f].json"))]
    timings = manifest.get("timings", {})
    stages = {"data": timings.get("corpus", 0) + timings.get("chunk", 0)}
    stages |= {k: v for k, v in timings.items() if k not in ("corpus", "chunk")}
    for part in sorted({k for c in cells for k in c.get("seconds", {})}):
        stages[{"train": "training", "evaluate": "evaluation"}.get(part, part)] = sum(
            c["seconds"].get(part, 0) for c in cells)
    # A cell's `select` time holds whatever its selection first needed: chunking, tokenizer, probe, probe
    # NLL, embeddings, a criterion's scores. Those are listed above on their own; keep selection itself.
    nested = sum(v for k, v in timings.items() if k not in ("corpus", "tasks"))
    if "select" in stages:
        stages["selection"] = max(0.0, stages.pop("select") - nested)
    stages["report"] = t2 - t1
    stages = {k: round(v, 2) for k, v in stages.items()}
    stages["cells"] = len(cells)
    stages["total"] = round(t2 - t0, 1)
    return stages


def summary(r: dict) -> str:
    lines = [f"matmul peak GFLOP/s: {r['matmul_peak_gflops']}",
             f"scoring tokens/s {r['scoring_tokens_per_s']} ({r['scoring_precision']}): "
             f"{r['scoring_speedup_vs_naive']}x naive, {r['scoring_fraction_of_forward_limit']} of the forward limit",
             f"training tokens/s {r['train_tokens_per_s']} ({r['train_precision']}): "
             f"{r['train_speedup_vs_hf_trainer']}x transformers.Trainer, MFU {r['train_mfu']}"
             f"{' (compiled)' if r['train_compiled'] else ''}",
             f"density seconds by N: {r['density_seconds_by_n']}"]
    if "smoke_stages_seconds" in r:
        lines.append(f"smoke run stages (s): {r['smoke_stages_seconds']}")
    lines.append(f"perf took {r['perf_seconds']} s")
    return "\n".join(lines)
