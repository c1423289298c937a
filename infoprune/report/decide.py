"""Which metrics can rank criteria at this run's scale, and the verdict on the seed paper's criteria.

A metric ranks criteria only if two disjoint sets of seeds order them alike. For each metric and ratio:
- signal: the std of the criteria's seed means (Heineman et al. 2025, arXiv 2508.13144);
- noise: the pooled seed-to-seed std (the root of the criteria's mean variance over seeds);
- stability: Kendall's tau between the criterion rankings of every split of the seeds into two disjoint
  halves of equal size (15 splits for 5 seeds), as a mean and its range over the splits.
A metric is decisive at a ratio when its mean split-half tau reaches STABLE_TAU and no split reverses the
order (tau > 0 in every one). The verdict then tests each of the seed paper's criteria against random pruning
on each decisive metric, by the same paired t-test over seeds as Table 1. Every sentence comes from the numbers.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from .render import Cell, Table
from .rundata import BASELINE, Run
from .tables import mean_std, p_text, paired_test, pct

# (metric, name in the text, lower is better)
METRICS = (
    ("bpb/in_domain", "in-domain bits per byte", True),
    ("bpb/ood", "out-of-domain bits per byte", True),
    ("ppl/in_domain", "in-domain perplexity", True),
    ("downstream/centered", "downstream centered accuracy", False),
    ("downstream/correct_prob_per_char", "downstream correct_prob_per_char", False),
    ("downstream/margin_per_char", "downstream margin_per_char", False),
    ("downstream/total_prob_per_char", "downstream total_prob_per_char", False),
)
STABLE_TAU = 0.5
# The seed paper's measures (Kim & Baek, arXiv 2406.14124 v1 and v3) and its length-controlled form.
PAPER = ("information", "information-residual", "entropy")
ALPHA = 0.05


def seed_halves(seeds: list[int]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every unordered pair of disjoint seed sets of size len(seeds) // 2 each."""
    h = len(seeds) // 2
    if h < 1:
        return []
    pairs = set()
    for a in itertools.combinations(seeds, h):
        rest = [s for s in seeds if s not in a]
        for b in itertools.combinations(rest, h):
            pairs.add(tuple(sorted((a, b))))
    return sorted(pairs)


def kendall(x: list[float], y: list[float]) -> float:
    from scipy.stats import kendalltau

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant ranking: tau is undefined (NaN)
        tau = kendalltau(x, y).statistic
    return float(tau) if np.isfinite(tau) else float("nan")


def signal_noise(run: Run, metric: str, ratio: float) -> dict | None:
    """Signal, noise and split-half stability of one metric at one ratio, over the criteria (random included)
    that have every seed of the run; None when fewer than 3 criteria or 2 seeds qualify."""
    seeds = run.seeds
    cells = {c: run.values(metric, c, ratio) for c in run.criteria}
    cells = {c: v for c, v in cells.items() if set(seeds) <= set(v)}
    if len(cells) < 3 or len(seeds) < 2:
        return None
    means = np.array([mean_std(v)[0] for v in cells.values()])
    variances = np.array([np.var([v[s] for s in seeds], ddof=1) for v in cells.values()])
    signal, noise = float(np.std(means, ddof=1)), float(np.sqrt(variances.mean()))
    taus = []
    for a, b in seed_halves(seeds):
        half = [[float(np.mean([v[s] for s in part])) for v in cells.values()] for part in (a, b)]
        taus.append(kendall(*half))
    taus = [t for t in taus if np.isfinite(t)]
    tau = float(np.mean(taus)) if taus else float("nan")
    decisive = bool(taus) and tau >= STABLE_TAU and min(taus) > 0
    return {"metric": metric, "ratio": ratio, "criteria": len(cells), "seeds": len(seeds), "signal": signal,
            "noise": noise, "snr": signal / noise if noise > 0 else float("inf"), "tau_mean": tau,
            "tau_min": min(taus, default=float("nan")), "tau_max": max(taus, default=float("nan")),
            "splits": len(taus), "decisive": decisive}


def stability(run: Run) -> list[dict]:
    return [row for metric, _, _ in METRICS if run.has(metric) for r in run.ratios
            if (row := signal_noise(run, metric, r)) is not None]


def snr_table(run: Run, rows: list[dict]) -> Table | None:
    if not rows:
        return None
    names = {m: n for m, n, _ in METRICS}
    columns = [("", "metric"), ("", "pruned"), ("", "criteria"), ("", "signal"), ("", "noise"), ("", "signal / noise"),
               ("", "split-half τ, mean"), ("", "τ range"), ("", "ranks criteria")]
    cells, breaks, last = [], [], None
    for row in rows:
        if row["metric"] != last:
            breaks.append(len(cells))
            last = row["metric"]
        cells.append([Cell(names[row["metric"]]), Cell(pct(row["ratio"])), Cell(str(row["criteria"])),
                      Cell(f"{row['signal']:.4g}"), Cell(f"{row['noise']:.4g}"), Cell(f"{row['snr']:.2f}"),
                      Cell(f"{row['tau_mean']:.2f}"), Cell(f"{row['tau_min']:.2f} to {row['tau_max']:.2f}"),
                      Cell("yes" if row["decisive"] else "no", bold=row["decisive"])])
    n = rows[0]["seeds"]
    notes = [f"signal: std of the criteria's means over {n} seeds; noise: pooled seed std; both in the metric's "
             "units (Heineman et al. 2025).",
             f"split-half Kendall τ: the criteria ranked by their mean over one half of the seeds against the other "
             f"half, over all {rows[0]['splits']} splits into two disjoint halves of {n // 2}; 1 is the same order.",
             f"ranks criteria: mean τ at least {STABLE_TAU} and τ above 0 in every split."]
    return Table("snr", "Table 4: which metrics can rank criteria at this scale", columns, cells, "lllrrrrrl",
                 notes=notes, breaks=breaks, data=pd.DataFrame(rows))


def snr_text(rows: list[dict]) -> str:
    """One generated paragraph: the metrics that rank criteria here, ratio by ratio, and those that do not."""
    if not rows:
        return "Fewer than 2 seeds or 3 criteria: no metric's ranking can be checked against the seeds."
    names = {m: n for m, n, _ in METRICS}
    can, cannot = {}, {}
    for row in rows:
        (can if row["decisive"] else cannot).setdefault(row["metric"], []).append(
            f"{pct(row['ratio'])} (τ {row['tau_mean']:.2f})")
    parts = []
    if can:
        parts.append("At this scale these metrics rank criteria consistently across seeds: " + "; ".join(
            f"{names[m]} at {', '.join(v)}" for m, v in can.items()) + ".")
    if cannot:
        parts.append("These cannot (their ranking changes with the seeds): " + "; ".join(
            f"{names[m]} at {', '.join(v)}" for m, v in cannot.items()) + ".")
    return " ".join(parts)


def verdicts(run: Run, rows: list[dict]) -> list[dict]:
    """Each of the seed paper's criteria against random at each ratio, on each metric decisive there."""
    lower = {m: low for m, _, low in METRICS}
    decisive = {(r["metric"], r["ratio"]) for r in rows if r["decisive"]}
    out = []
    for crit in (c for c in run.criteria if c.split(":")[0] in PAPER):
        for r in run.ratios:
            for metric in (m for m, _, _ in METRICS if (m, r) in decisive):
                vals, base = run.values(metric, crit, r), run.values(metric, BASELINE, r)
                p, paired = paired_test(vals, base)
                if paired < 2:
                    continue
                diff = mean_std(vals)[0] - mean_std(base)[0]
                gain = -diff if lower[metric] else diff
                word = ("better than" if gain > 0 else "worse than") if p is not None and p < ALPHA else "no different from"
                out.append({"criterion": crit, "ratio": r, "metric": metric, "diff_vs_random": diff, "p": p,
                            "seeds_paired": paired, "verdict": word})
    return out


def verdict_table(found: list[dict]) -> Table | None:
    if not found:
        return None
    names = {m: n for m, n, _ in METRICS}
    columns = [("", "criterion"), ("", "pruned"), ("", "metric"), ("", "minus random"), ("", "p"), ("", "verdict")]
    rows, breaks, last = [], [], None
    for v in found:
        if (v["criterion"], v["ratio"]) != last:
            breaks.append(len(rows))
            last = (v["criterion"], v["ratio"])
        rows.append([Cell(v["criterion"]), Cell(pct(v["ratio"])), Cell(names[v["metric"]]),
                     Cell(f"{v['diff_vs_random']:+.4g}"), Cell(p_text(v["p"])),
                     Cell(v["verdict"] + " random", bold=v["verdict"] != "no different from")])
    notes = [f"Only the metrics that rank criteria at that ratio (Table 4). p: two-sided paired t-test over seeds "
             f"against random pruning; better or worse at p < {ALPHA}, otherwise no detectable difference. "
             "Uncorrected for the number of tests."]
    return Table("verdict", "Table 5: the seed paper's criteria against random pruning", columns, rows, "llllrl",
                 notes=notes, breaks=breaks, data=pd.DataFrame(found))


def verdict_text(run: Run, found: list[dict], rows: list[dict]) -> str:
    """The verdict in words: per paper criterion, where it beats random, where it loses, and where no decisive
    metric can tell."""
    names = {m: n for m, n, _ in METRICS}
    papers = [c for c in run.criteria if c.split(":")[0] in PAPER]
    if not papers or BASELINE not in run.criteria:
        return ""
    decisive = {r["ratio"] for r in rows if r["decisive"]}
    out = []
    for crit in papers:
        mine = [v for v in found if v["criterion"] == crit]
        said = []
        for word in ("better than", "worse than"):
            hits = [f"{names[v['metric']]} at {pct(v['ratio'])} ({v['diff_vs_random']:+.3g}, p {p_text(v['p'])})"
                    for v in mine if v["verdict"] == word]
            if hits:
                said.append(f"{word} random on " + ", ".join(hits))
        level = [v for v in mine if v["verdict"] == "no different from"]
        if level:
            said.append(f"no detectable difference in {len(level)} other (metric, ratio) pairs")
        blind = [pct(r) for r in run.ratios if r not in decisive]
        if blind:
            said.append(f"undecided at {', '.join(blind)}, where no metric ranks criteria")
        out.append(f"`{crit}`: " + ("; ".join(said) if said else "no decisive metric") + ".")
    return " ".join(out)
