"""The result tables: Table 1 (held-out bits per byte, perplexity and the downstream average by criterion and
pruning ratio), Table 2 (downstream accuracy per task), Table 3 (the planted-junk diagnostic), and the
highest- and lowest-scoring samples of each criterion.

Each builder returns a `render.Table` (or None when the run holds nothing for it): formatted cells for
the page and the paper, and the numbers behind them for the CSV.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..store import FULL
from .render import Cell, Table, is_number
from .rundata import BASELINE, Run

FAILED_NOTE = ("† or 'failed': a seed of this cell failed (cells/*.failed.json says why); † values are over the seeds "
               "that finished.")


@dataclass(frozen=True)
class Col:
    """A column group of a ratio table: one metric at every pruning ratio."""

    metric: str
    label: str  # the group header
    lower: bool  # lower is better (bold goes to the minimum)
    digits: int
    delta: bool = False  # the difference to the full-data mean instead of the value
    test: bool = False  # mark a significant difference to the baseline at the same ratio


TABLE1 = (Col("bpb/in_domain", "bpb ↓", True, 4, test=True), Col("bpb/in_domain", "Δ full", True, 4, delta=True),
          Col("ppl/in_domain", "ppl ↓", True, 1), Col("downstream/centered", "down. ↑", False, 3, test=True))
TABLE2B = (Col("downstream/correct_prob_per_char", "correct prob. ↑", False, 4, test=True),
           Col("downstream/margin_per_char", "margin ↑", False, 4, test=True),
           Col("downstream/total_prob_per_char", "total prob. ↑", False, 4))
TABLE1_OOD = (Col("bpb/ood", "bpb ↓", True, 4, test=True), Col("bpb/ood", "Δ full", True, 4, delta=True),
              Col("ppl/ood", "ppl ↓", True, 1))


# -- statistics ---------------------------------------------------------------------------------------
def mean_std(values: dict[int, float]) -> tuple[float, float, int]:
    v = np.array(list(values.values()), dtype=float)
    if not len(v):
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def paired_test(a: dict[int, float], b: dict[int, float]) -> tuple[float | None, int]:
    """Two-sided paired t-test of a against b over the seeds both have: (p-value or None, seeds paired).

    Seeds pair by number because every cell of a seed shares its initialisation and data-order streams.
    Undefined (None) with fewer than 2 pairs, or when every difference is zero.
    """
    from scipy.stats import ttest_rel

    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return None, len(common)
    x, y = np.array([a[s] for s in common]), np.array([b[s] for s in common])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # differences without spread: scipy warns (p is 0, or NaN if all zero)
        p = float(ttest_rel(x, y).pvalue)
    return (p if np.isfinite(p) else None), len(common)


def stars(p: float | None) -> str:
    return "" if p is None else "**" if p < 0.01 else "*" if p < 0.05 else ""


def p_text(p: float | None) -> str:
    """A p-value as the text writes it: "= 0.012", "< 0.001", or "n/a" where the test is undefined."""
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def fmt(x: float, digits: int, signed: bool = False) -> str:
    if not np.isfinite(x):
        return ""
    x = round(x, digits) + 0.0  # + 0.0 turns -0.0 into 0.0: no "-0.0000"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def pct(r: float) -> str:
    return f"{r:g}"


def _bold_best(rows: list[list[Cell]], col: int, lower: bool, candidates: list[int]) -> None:
    """Bold the best shown value of column `col` among rows `candidates`; only when two or more compete."""
    shown = {i: float(rows[i][col].value) for i in candidates if is_number(rows[i][col].value)}
    if len(shown) < 2:
        return
    best = min(shown.values()) if lower else max(shown.values())
    for i, v in shown.items():
        if v == best:
            c = rows[i][col]
            rows[i][col] = Cell(c.value, c.std, c.mark, c.dagger, bold=True)


# -- Table 1 ------------------------------------------------------------------------------------------
def ratio_table(run: Run, name: str, title: str, spec: tuple[Col, ...]) -> Table | None:
    """Rows are criteria (the full-data row first), column groups are metrics, columns within a group are
    pruning ratios. Cells: mean ± std over seeds, a significance mark, a dagger for failed seeds."""
    cols = [c for c in spec if run.has(c.metric)]
    ratios, criteria = run.ratios, run.criteria
    if not cols or not (ratios or criteria):
        return None
    has_full = any(run.values(c.metric, FULL, 0.0) for c in cols)
    columns = [("", "criterion")] + [(c.label, pct(r)) for c in cols for r in ratios]
    rows: list[list[Cell]] = []
    records: list[dict] = []
    tested_pairs = 0
    if has_full:
        row = [Cell("full data")]
        for c in cols:
            m, s, n = mean_std(run.values(c.metric, FULL, 0.0))
            cell = Cell("—") if c.delta or not np.isfinite(m) else Cell(fmt(m, c.digits), fmt(s, c.digits))
            row += [cell] * len(ratios)
        rows.append(row)
    for crit in criteria:
        row = [Cell(crit)]
        for c in cols:
            full_mean = mean_std(run.values(c.metric, FULL, 0.0))[0]
            for r in ratios:
                vals = run.values(c.metric, crit, r)
                m, s, n = mean_std(vals)
                failed = run.failed_seeds(crit, r)
                if not vals:
                    row.append(Cell("failed" if failed else "—"))
                    continue
                p = None
                if c.test and crit != BASELINE:
                    p, paired = paired_test(vals, run.values(c.metric, BASELINE, r))
                    tested_pairs = max(tested_pairs, paired)
                if c.delta:
                    row.append(Cell(fmt(m - full_mean, c.digits, signed=True) or "—", dagger=bool(failed)))
                else:
                    row.append(Cell(fmt(m, c.digits), fmt(s, c.digits), stars(p), dagger=bool(failed)))
        rows.append(row)
    # one tidy record per (criterion, ratio, metric) for the CSV, the full-data baseline at ratio 0
    for c in cols:
        if c.delta:
            continue
        full_mean = mean_std(run.values(c.metric, FULL, 0.0))[0]
        for crit, r in ([(FULL, 0.0)] if has_full else []) + [(k, r) for k in criteria for r in ratios]:
            vals = run.values(c.metric, crit, r)
            m, s, n = mean_std(vals)
            p, paired = (paired_test(vals, run.values(c.metric, BASELINE, r))
                         if c.test and crit not in (FULL, BASELINE) else (None, 0))
            records.append({"criterion": crit, "ratio": r, "metric": c.metric, "seeds": n, "mean": m, "std": s,
                            "delta_vs_full": m - full_mean, "p_vs_random": p, "seeds_paired": paired,
                            "failed_seeds": ";".join(map(str, run.failed_seeds(crit, r)))})
    first = 1 if has_full else 0
    for j in range(1, len(columns)):
        _bold_best(rows, j, cols[(j - 1) // len(ratios)].lower, list(range(first, len(rows))))
    return Table(name, title, columns, rows, "l" + "r" * (len(columns) - 1),
                 notes=_ratio_notes(run, cols, tested_pairs), breaks=[first] if has_full else [],
                 data=pd.DataFrame(records))


def _ratio_notes(run: Run, cols: list[Col], tested_pairs: int) -> list[str]:
    seeds = run.seeds
    notes = [f"Columns: fraction of the pool pruned. Mean ± std over {len(seeds)} seeds ({', '.join(map(str, seeds))})."
             if len(seeds) > 1 else f"One seed ({seeds[0]}): no spread and no significance test."]
    labels = {c.label: c for c in cols}
    if "Δ full" in labels:
        notes.append("Δ full: the mean minus the full-data mean; negative is better than training on all the data.")
    if "ppl ↓" in labels:
        notes.append("ppl: per-token perplexity of the same held-out text.")
    if "correct prob. ↑" in labels:
        notes.append("Per multiple-choice item, from each choice's log-likelihood per character l_i: correct prob. = "
                     "exp(l_gold); margin = l_gold minus the best wrong choice's l_i; total prob. = the sum of "
                     "exp(l_i) over choices (Magnusson et al. 2025); each averaged over items, then over tasks.")
    if "down. ↑" in labels:
        notes.append("down.: downstream average over tasks of (acc_norm - chance) / (1 - chance); 0 is chance, "
                     "higher is better.")
    tested = " and ".join(c.label.rstrip(" ↑↓") for c in cols if c.test)
    if tested_pairs >= 2:
        notes.append(f"* p < 0.05, ** p < 0.01: differs from random pruning at the same ratio (better or worse: "
                     f"compare with the random row), by a two-sided paired t-test of the per-seed values, seeds "
                     f"paired by number (on {tested}).")
    elif len(seeds) > 1:
        notes.append("No significance marks: fewer than 2 seeds pair with random pruning.")
    notes.append("Bold: the best value of each column among the pruned rows (at the precision shown).")
    if run.failures:
        notes.append(FAILED_NOTE)
    return notes


def table1(run: Run) -> Table | None:
    down = " and the downstream average" if run.has("downstream/centered") else ""
    return ratio_table(run, "table1", f"Table 1: in-domain held-out bits per byte, perplexity{down} by pruning "
                                      "criterion and ratio", TABLE1)


def table1_ood(run: Run) -> Table | None:
    return ratio_table(run, "table1_ood", "Table 1b: out-of-domain held-out bits per byte and perplexity",
                       TABLE1_OOD)


def table2_continuous(run: Run) -> Table | None:
    return ratio_table(run, "table2b", "Table 2b: continuous downstream metrics (DataDecide), averaged over tasks",
                       TABLE2B)


# -- Table 2 ------------------------------------------------------------------------------------------
def table2(run: Run) -> Table | None:
    """Rows are (criterion, ratio) blocks by ratio, columns are tasks (acc_norm) and the two averages."""
    tasks = run.tasks
    if not tasks:
        return None
    metrics = [f"task/{t}/acc_norm" for t in tasks]
    heads = []
    for t in tasks:
        ch = run.chance(t)
        heads.append(("acc_norm ↑", t + (f" (chance {ch:.2f})" if ch is not None else "")))
    extra = [(m, label) for m, label in (("downstream/acc_norm", "mean acc_norm"), ("downstream/centered", "centered"))
             if run.has(m)]
    metrics += [m for m, _ in extra]
    columns = [("", "criterion"), ("", "pruned")] + heads + [("average ↑", label) for _, label in extra]
    blocks = ([(FULL, 0.0)] if any(run.values(m, FULL, 0.0) for m in metrics) else []) + [
        (c, r) for r in run.ratios for c in run.criteria]
    rows, records, breaks = [], [], []
    last_ratio = None
    for crit, r in blocks:
        if r != last_ratio:
            breaks.append(len(rows))
            last_ratio = r
        failed = run.failed_seeds(crit, r)
        row = [Cell("full data" if crit == FULL else crit), Cell(pct(r) if crit != FULL else "0")]
        for m in metrics:
            vals = run.values(m, crit, r)
            mean, std, n = mean_std(vals)
            row.append(Cell(fmt(mean, 3), fmt(std, 3), dagger=bool(failed and vals)) if vals
                       else Cell("failed" if failed else "—"))
            se = (mean_std(run.values(m.replace("/acc_norm", "/acc_norm_stderr"), crit, r))[0]
                  if m.startswith("task/") else float("nan"))
            records.append({"criterion": crit, "ratio": r, "metric": m, "seeds": n, "mean": mean, "std": std,
                            "mean_item_stderr": se, "failed_seeds": ";".join(map(str, failed))})
        rows.append(row)
    for start, end in zip(breaks, breaks[1:] + [len(rows)]):
        if rows[start][0].value == "full data":
            continue
        for j in range(2, len(columns)):
            _bold_best(rows, j, False, list(range(start, end)))
    notes = ["acc_norm: length-normalised multiple-choice accuracy (lm-eval); mean ± std over seeds.",
             "centered: (acc_norm - chance) / (1 - chance), averaged over tasks.",
             "Bold: the best of each column among the criteria at the same ratio."]
    if run.failures:
        notes.append(FAILED_NOTE)
    return Table("table2", "Table 2: downstream accuracy per task", columns, rows, "ll" + "r" * (len(columns) - 2),
                 notes=notes, breaks=breaks, data=pd.DataFrame(records))


# -- Table 3 ------------------------------------------------------------------------------------------
KINDS = ("clean", "duplicate", "boilerplate", "gibberish")


def table3(run: Run) -> Table | None:
    """The planted-junk diagnostic of `bench diagnose --out RUN_DIR`: the share of each kind pruned."""
    d = run.diagnose
    if d is None or d.empty:
        return None
    kinds = [k for k in KINDS if k in set(d.kind)] + sorted(set(d.kind) - set(KINDS))
    ratios = sorted(d.ratio.unique())
    order = {c: i for i, c in enumerate(run.criteria)}
    crits = sorted(d.criterion.unique(), key=lambda c: (order.get(c, len(order)), c))
    share = {(c, k, r): v for c, k, r, v in zip(d.criterion, d.kind, d.ratio, d.pruned_share)}
    columns = [("", "criterion")] + [(k, pct(r)) for k in kinds for r in ratios]
    rows = [[Cell(c)] + [Cell(f"{share[(c, k, r)]:.0%}" if (c, k, r) in share else "—") for k in kinds for r in ratios]
            for c in crits]
    notes = ["Share of each kind pruned, by pruning ratio. clean: the pool's own samples; the others are planted "
             "copies of pool samples, a repeated boilerplate footer, and random-character gibberish. A criterion "
             "that prunes junk well prunes those kinds more than the clean share."]
    data = d[["criterion", "ratio", "kind", "pruned_share"]].sort_values(["criterion", "kind", "ratio"])
    return Table("table3", "Table 3: planted-junk diagnostic", columns, rows, "l" + "r" * (len(columns) - 1),
                 notes=notes, data=data.reset_index(drop=True))


# -- examples -----------------------------------------------------------------------------------------
def examples(run: Run, k: int = 3, width: int = 120) -> Table | None:
    """The k highest- and k lowest-scoring pool samples of each criterion, by its raw score."""
    pool, scores = run.pool, run.scores
    if pool is None or scores is None or "excerpt" not in pool or not run.score_columns:
        return None
    ids = pool["id"].astype(str).to_numpy()
    rows, records, breaks = [], [], []
    for crit in run.score_columns:
        s = scores[crit].to_numpy(dtype=float)
        ok = np.flatnonzero(np.isfinite(s))
        if not len(ok):
            continue
        # ties broken by id, so the examples never depend on the pool's row order
        by_score = ok[np.lexsort((ids[ok], s[ok]))]
        high = ok[np.lexsort((ids[ok], -s[ok]))][:k]
        low = by_score[:k]
        breaks.append(len(rows))
        keep = run.criterion_info(crit).get("keep")
        label = crit + (f" (keeps {keep})" if keep else "")
        for end, picked in (("highest", high), ("lowest", low)):
            for rank, i in enumerate(picked, 1):
                text = " ".join(str(pool["excerpt"].iloc[i]).split())
                text = text if len(text) <= width else text[: width - 1].rstrip() + "…"
                src = str(pool["source"].iloc[i]) if "source" in pool else ""
                rows.append([Cell(label if rank == 1 and end == "highest" else ""), Cell(f"{end} {rank}"),
                             Cell(f"{s[i]:.4g}"), Cell(src), Cell(text)])
                records.append({"criterion": crit, "end": end, "rank": rank, "score": float(s[i]),
                                "id": ids[i], "source": src, "excerpt": text})
    if not rows:
        return None
    columns = [("", "criterion"), ("", "end"), ("", "score"), ("", "source"), ("", "excerpt")]
    notes = [f"Raw scores, the first seed's for seeded criteria; excerpts cut at {width} characters. Whether a "
             "criterion keeps the top, the middle or the bottom of its scores is its own (see 'bench list')."]
    return Table("examples", "Highest- and lowest-scoring samples of each criterion", columns, rows, "llrlp",
                 notes=notes, breaks=breaks, data=pd.DataFrame(records))
