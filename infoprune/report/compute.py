"""Compute accounting: what each criterion costs once (probe training, embedding, scoring), set against one
cell's training and against the training compute that pruning saves. It answers "is pruning worth it here".

Seconds come from the manifest's timings and the cell records. FLOPs are counted for LM passes only:
training ~ 6·N·tokens, a forward pass ~ 2·N·tokens, where N is the model's non-embedding parameters plus
its d_model x vocabulary output head (the head's matmul costs the same whether its weights are tied).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import parse_budget
from ..store import FULL
from .render import Cell, Table
from .rundata import Run
from .tables import pct

# Shared stages: (timing key, column label, the criterion_info flag that makes a criterion need it).
# The probe's pass over the pool is its own key only if the pipeline times it apart from scoring.
STAGES = (("probe", "probe training s", "uses_probe"), ("probe_nll", "probe pass s", "uses_probe"),
          ("embed", "embedding s", "uses_embedder"))


def _params(run: Run, section: str) -> int | None:
    """N for FLOPs: non-embedding parameters plus the output head, or None when the manifest lacks them."""
    non_emb = run.manifest.get(section, {}).get("non_embedding_params")
    model = run.config.get("model", {})
    vocab = run.manifest.get("tokenizer_vocab") or model.get("vocab_size")
    if non_emb is None or not model.get("d_model") or not vocab:
        return None
    return int(non_emb) + int(model["d_model"]) * int(vocab)


def _budget(budget: str | None) -> tuple[str, float] | tuple[None, None]:
    try:
        return parse_budget(budget or "")
    except ValueError:  # a folder from another version of the suite: its compute is left out
        return None, None


def _budget_tokens(budget: str | None, epoch_tokens: float | None) -> float | None:
    kind, value = _budget(budget)
    if kind == "tokens":
        return value
    return value * epoch_tokens if kind == "epochs" and epoch_tokens else None


def _mean(xs) -> float:
    xs = [float(x) for x in xs if x is not None]
    return float(np.mean(xs)) if xs else float("nan")


def accounting(run: Run) -> tuple[Table | None, list[str]]:
    """The compute table and the paragraph that reads it; (None, []) when the run recorded no timings."""
    measured = run.manifest.get("timings", {})
    # A stage this run found in the cache costs what it cost where an earlier run computed it (marked *).
    cached = {k: v for k, v in run.manifest.get("cached_costs", {}).items()
              if isinstance(v, dict) and "seconds" in v and k not in measured}
    timings = {k: v["seconds"] for k, v in cached.items()} | measured
    records = [r for r in run.records if r.get("train", {}).get("tokens") and r.get("seconds", {}).get("train")]
    if not records or not timings:
        return None, []
    split = run.manifest.get("split", {})
    pool_tokens = split.get("pool", {}).get("tokens")
    if pool_tokens is None and run.pool is not None and "n_tokens" in run.pool:
        pool_tokens = int(run.pool["n_tokens"].sum())
    # training throughput over every finished cell: the most stable per-token cost this run measured
    tokens_per_s = sum(r["train"]["tokens"] for r in records) / sum(r["seconds"]["train"] for r in records)
    cell_tokens = _mean(r["train"]["tokens"] for r in records)
    cell_s = cell_tokens / tokens_per_s
    n_model, n_probe = _params(run, "model"), _params(run, "probe")
    probe_cfg = run.manifest.get("probe", {}).get("source", run.config.get("probe", "own"))
    probe_tokens = _budget_tokens(run.config.get("probe_train", {}).get("budget"),
                                  split.get("pool" if probe_cfg == "pool" else "probe", {}).get("tokens"))
    probe_flops = None
    if n_probe and probe_tokens and pool_tokens and probe_cfg in ("own", "pool"):
        probe_flops = 6 * n_probe * probe_tokens + 2 * n_probe * pool_tokens
    ratios = run.ratios
    stages = [(key, label, flag) for key, label, flag in STAGES if key in timings]
    columns = [("", "criterion"), ("", "needs")] + [("one-off cost", label) for _, label, _ in stages] + [
        ("one-off cost", "scoring s"), ("one-off cost", "total s"), ("one-off cost", "LM GFLOP"),
        ("one-off cost", "÷ cell training")] + [("saved s per run at epochs:1", pct(r)) for r in ratios]
    rows, records_out, nested_any = [], [], False
    embedder = run.manifest.get("embedder", {}).get("model", "all-MiniLM-L6-v2").rsplit("/", 1)[-1]

    def seconds(key: str, t: float | None) -> Cell:
        return Cell("—") if t is None else Cell(f"{t:.1f}", mark="*" if key in cached else "")

    for crit in run.criteria:
        info = run.criterion_info(crit)
        score_s = timings.get(f"score/{crit}")
        needs = [name for name, flag in (("probe", "uses_probe"), (embedder, "uses_embedder")) if info.get(flag)]
        row = [Cell(crit), Cell("+".join(needs) or "—")]
        total = score_s
        for key, _, flag in stages:
            t = timings[key] if info.get(flag) else None
            row.append(seconds(key, t))
            if t is not None and total is not None:
                # A shared stage runs inside the scoring of the first criterion that needs it, so a scoring
                # time at least as long as the stage already holds it: adding it again would count it twice.
                if score_s >= t:
                    nested_any = True
                else:
                    total += t
        flops = probe_flops if info.get("uses_probe") else (0.0 if info else None)
        row += [seconds(f"score/{crit}", score_s),
                Cell(f"{total:.1f}" if total is not None else "—"),
                Cell(f"{flops / 1e9:,.1f}" if flops is not None else "—"),
                Cell(f"{total / cell_s:.2f}" if total is not None else "—")]
        rec = {"criterion": crit, "needs": "+".join(needs), "scoring_s": score_s, "one_off_s": total,
               "one_off_lm_flops": flops, "one_off_per_cell_training": total / cell_s if total is not None else None}
        for r in ratios:
            kept = _mean(x.get("kept_tokens") for x in run.records
                         if x.get("criterion") == crit and np.isclose(float(x.get("ratio", -1)), r))
            saved = (pool_tokens - kept) if pool_tokens and np.isfinite(kept) else None
            row.append(Cell(f"{saved / tokens_per_s:.1f}" if saved is not None else "—"))
            rec[f"saved_tokens_epochs1_{pct(r)}"] = saved
            rec[f"saved_s_epochs1_{pct(r)}"] = saved / tokens_per_s if saved is not None else None
            rec[f"saved_flops_epochs1_{pct(r)}"] = 6 * n_model * saved if saved is not None and n_model else None
        rows.append(row)
        records_out.append(rec)
    notes = ["Seconds as the manifest recorded them on this machine. total: scoring plus each shared stage the "
             "criterion needs, counted in full for every criterion, as if it ran alone."]
    if cached:
        places = sorted({_place(v.get("where")) for v in cached.values()})
        notes.append("* from the cache: this run reused the stage, and the seconds are what it cost when an "
                     f"earlier run computed it ({'; '.join(places)}).")
    if any(f"score/{c}" not in timings for c in run.criteria):
        notes.append("— for scoring: not timed in this run folder (its scores came from a cache entry that did "
                     "not record its cost, or the criterion failed).")
    if nested_any:
        notes.append("A shared stage (probe training, embedding) runs inside the scoring of the first criterion "
                     "that needs it; where the scoring time already holds it, it is not added again.")
    notes.append("LM GFLOP: the probe's training (6·N·tokens) and its pass over the pool (2·N·tokens); "
                 "embedding and counting arithmetic are not counted (0 for criteria without the probe).")
    notes.append("saved: training time one run would save by training once over the kept set instead of the "
                 "whole pool, at this run's measured throughput.")
    table = Table("compute", "Compute: each criterion's one-off cost against the training it saves", columns, rows,
                  "ll" + "r" * (len(columns) - 2), notes=notes, data=pd.DataFrame(records_out))
    return table, _paragraph(run, cell_tokens, cell_s, n_model, pool_tokens, tokens_per_s, records_out)


def _place(where) -> str:
    if not isinstance(where, dict):
        return "where, unrecorded"
    return f"{where.get('cpu', '?')}, {where.get('threads', '?')} threads, {where.get('device', '?')}"


def _paragraph(run: Run, cell_tokens, cell_s, n_model, pool_tokens, tokens_per_s, recs: list[dict]) -> list[str]:
    budget = run.config.get("train", {}).get("budget", "")
    flops = f" ({6 * n_model * cell_tokens / 1e9:,.1f} GFLOP at 6·N·tokens, N = {n_model:,})" if n_model else ""
    out = [f"One cell trains {cell_tokens:,.0f} tokens in {cell_s:.1f} s{flops}."]
    full = [r for r in run.records if r.get("criterion") == FULL and r.get("train", {}).get("tokens")]
    as_run = {r["criterion"]: r for r in run.records if r.get("train", {}).get("tokens")}
    kind, passes = _budget(budget)
    if kind == "tokens":
        out.append(f"This run's budget is compute-matched ({budget}): every cell trains the same number of tokens, "
                   "so pruning saved no training compute here; it only changed what the model saw.")
    elif kind == "epochs" and full and as_run:
        out.append(f"This run's budget is {budget}: every cell trains {passes:g} pass(es) over its "
                   f"kept set, so a pruned cell trains on fewer tokens than the full-data cell "
                   f"({full[0]['train']['tokens']:,} tokens) and this run realised the savings below, times the "
                   "number of passes.")
    if pool_tokens:
        mid = run.ratios[len(run.ratios) // 2] if run.ratios else None
        out.append(f"Under a one-epoch budget (one pass over the kept set), pruning a fraction r of the pool's "
                   f"{pool_tokens:,} tokens saves about r × {pool_tokens / tokens_per_s:.1f} s per training run.")
        if mid is not None:
            costs = [(r["one_off_s"] / r[f"saved_s_epochs1_{pct(mid)}"], r["criterion"]) for r in recs
                     if r["one_off_s"] and r.get(f"saved_s_epochs1_{pct(mid)}")]
            if costs:
                lo, hi = min(costs), max(costs)
                out.append(f"At r = {pct(mid)}, a criterion's one-off cost equals the savings of {lo[0]:.2f} "
                           f"(for {lo[1]}) to {hi[0]:.2f} (for {hi[1]}) such runs: pruning pays when the kept "
                           "set is reused for more training runs than that.")
    return out
