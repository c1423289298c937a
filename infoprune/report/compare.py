"""`bench compare RUN_A RUN_B [RUN_C ...]`: does the ranking of criteria found in one run hold in another?

A small model (or one learning rate) is cheap to run; a pruning study is worth something only if the order of
criteria it finds carries over to the larger model (or another learning rate). For RUN_A against each other run,
on the criteria, ratios and decide.METRICS that both hold (the full-data cell aside), it measures:

- decision accuracy: over every pair of criteria at a ratio, the share that both runs order the same way by
  their seed means, per ratio and pooled over ratios, with a bootstrap interval over seeds (each run's seeds
  resampled with replacement, RESAMPLES times, from the constant BOOT_SEED; the 2.5-97.5 percentiles);
- Kendall's tau between the two rankings, per ratio;
- each criterion's effect (its mean minus random's at the same ratio) in RUN_A against RUN_B: the figure.

It writes, to `--out` (default: `compare-<A>-<B>...` beside RUN_A), `compare.md` (tables, what differs between
the runs, and a paragraph per metric said from the numbers), `compare.csv` (the numbers of the tables),
`compare_deltas.csv` (the figure's points), `compare.tex` and `compare.png`. A re-run rewrites md and csv
byte for byte. Like the report, it reads run folders only: nothing is trained.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_write_text
from ..errors import UserError
from .decide import METRICS, kendall
from .figures import MARKERS, _plt, _save
from .render import Cell, Table, md_escape, to_latex, to_markdown
from .rundata import BASELINE, Run, load_run
from .tables import mean_std, pct

BOOT_SEED = 19  # a constant, never the clock: the interval is the same on every re-run
RESAMPLES = 1000
LEVELS = (2.5, 97.5)  # percentiles of the bootstrap distribution: a 95% interval
DIFFS = (("train.lr", "learning rate"), ("train.budget", "training budget"), ("seeds", "seeds"))
NOT_SETTINGS = {"out", "data_dir", "criteria", "ratios"}  # where a run went, or what `shared` already reports


# -- what two runs share ---------------------------------------------------------------------------------
def names(runs: list[Run]) -> list[str]:
    """Each run's folder name, or parent/name where two folders share a name."""
    short = [r.dir.resolve().name for r in runs]
    if len(set(short)) == len(short):
        return short
    return ["/".join(r.dir.resolve().parts[-2:]) for r in runs]


def measured(run: Run) -> list[str]:
    """The run's criteria that have results: one whose every cell failed has nothing to rank."""
    found = set(run.results.criterion)
    return [c for c in run.criteria if c in found]


def shared(a: Run, b: Run, na: str, nb: str) -> tuple[list[str], list[float], list[tuple[str, str, bool]]]:
    """The criteria, ratios and metrics both runs hold; one clear UserError where a ranking cannot be compared."""
    crits = [c for c in measured(a) if c in set(measured(b))]
    if len(crits) < 2:
        said = f"only {crits[0]!r}" if crits else "no criterion"
        raise UserError(f"runs {na} ({', '.join(measured(a)) or 'none'}) and {nb} ({', '.join(measured(b)) or 'none'})"
                        f" share {said}: comparing rankings needs two criteria in both")
    rb = {round(r, 9) for r in b.ratios}
    ratios = [r for r in a.ratios if round(r, 9) in rb]
    if not ratios:
        raise UserError(f"runs {na} (ratios {', '.join(map(pct, a.ratios)) or 'none'}) and {nb} (ratios "
                        f"{', '.join(map(pct, b.ratios)) or 'none'}) share no pruning ratio")
    metrics = [m for m in METRICS if a.has(m[0]) and b.has(m[0])]
    if not metrics:
        raise UserError(f"runs {na} and {nb} share none of the metrics {', '.join(m for m, _, _ in METRICS)}")
    return crits, ratios, metrics


# -- the statistics ------------------------------------------------------------------------------------------
def seed_weights(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """(resamples, n): how often each of a run's n seeds is drawn in each resample."""
    draws = rng.integers(0, n, size=(resamples, n))
    return (draws[:, :, None] == np.arange(n)).sum(axis=1).astype(float)


def cell_means(run: Run, metric: str, crits: list[str], ratio: float, weights: np.ndarray) -> np.ndarray:
    """(criteria, resamples): each criterion's seed mean under each row of weights. One set of weights for all
    criteria, because the cells of a seed share its initialisation and data order: a seed is resampled whole.
    A criterion lacking a seed (a failed cell) is averaged over the seeds it has; none drawn gives NaN."""
    cells = [run.values(metric, c, ratio) for c in crits]
    v = np.array([[cell.get(s, np.nan) for s in run.seeds] for cell in cells], dtype=float)
    have = np.isfinite(v).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.nan_to_num(v) @ weights.T) / (have @ weights.T)


def agreement(ma: np.ndarray, mb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(agreeing, pairs) over every pair of criteria, per column of the means. A pair counts 1 when both runs
    order it the same way, 0 when reversed, and 1/2 when exactly one run ties it (a tie predicts neither order).
    The metric's direction does not enter: flipping it flips both orders alike."""
    i, j = np.triu_indices(len(ma), 1)
    da, db = np.sign(ma[i] - ma[j]), np.sign(mb[i] - mb[j])
    valid = np.isfinite(da) & np.isfinite(db)
    score = np.where(da == db, 1.0, np.where((da == 0) | (db == 0), 0.5, 0.0))
    return np.where(valid, score, 0.0).sum(axis=0), valid.sum(axis=0)


def best_and_rank(ma: np.ndarray, mb: np.ndarray, crits: list[str], lower: bool) -> tuple[str, int]:
    """RUN_A's best criterion and its place in RUN_B's ranking (1 is best there too)."""
    sign = 1.0 if lower else -1.0
    best = int(np.nanargmin(sign * ma))
    return crits[best], 1 + int(np.sum(sign * mb < sign * mb[best]))


def interval(agree: np.ndarray, pairs: np.ndarray) -> tuple[float, float]:
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = agree / pairs
    acc = acc[np.isfinite(acc)]
    if not len(acc):
        return float("nan"), float("nan")
    lo, hi = np.percentile(acc, LEVELS)
    return float(lo), float(hi)


def compare_pair(a: Run, b: Run, na: str, nb: str) -> tuple[list[dict], list[dict]]:
    """The table rows (per metric: each ratio, then `all`) and the figure's points of RUN_A against RUN_B."""
    crits, ratios, metrics = shared(a, b, na, nb)
    rng = np.random.default_rng(BOOT_SEED)
    boot = (seed_weights(rng, len(a.seeds), RESAMPLES), seed_weights(rng, len(b.seeds), RESAMPLES))
    rows, points = [], []
    for metric, _, lower in metrics:
        found, taus, used = [], [], set()  # each ratio's (point, resampled) agreement, pooled below
        for r in ratios:
            here = [c for c in crits if a.values(metric, c, r) and b.values(metric, c, r)]
            if len(here) < 2:
                continue
            ma, mb = (np.array([mean_std(run.values(metric, c, r))[0] for c in here]) for run in (a, b))
            point = agreement(ma[:, None], mb[:, None])
            sample = agreement(*(cell_means(run, metric, here, r, w) for run, w in zip((a, b), boot)))
            found.append((point, sample))
            taus.append(kendall(list(ma), list(mb)))
            used |= set(here)
            best, rank = best_and_rank(ma, mb, here, lower)
            rows.append(_row(na, nb, metric, lower, r, len(here), point, sample, taus[-1],
                             f"{best} ({rank} of {len(here)})"))
            if BASELINE in here:
                base = here.index(BASELINE)
                points += [{"run_a": na, "run_b": nb, "metric": metric, "criterion": c, "ratio": r,
                            "delta_a": float(ma[k] - ma[base]), "delta_b": float(mb[k] - mb[base])}
                           for k, c in enumerate(here) if c != BASELINE]
        if len(found) > 1:
            point, sample = ((sum(f[i][0] for f in found), sum(f[i][1] for f in found)) for i in (0, 1))
            finite = [t for t in taus if np.isfinite(t)]
            rows.append(_row(na, nb, metric, lower, "all", len(used), point, sample,
                             float(np.mean(finite)) if finite else float("nan"), ""))
    if not rows:
        raise UserError(f"runs {na} and {nb} have no ratio where two shared criteria both have results")
    return rows, points


def _row(na, nb, metric, lower, ratio, n, point, sample, tau, best) -> dict:
    lo, hi = interval(*sample)
    agree, pairs = float(point[0][0]), int(point[1][0])
    return {"run_a": na, "run_b": nb, "metric": metric, "lower_is_better": lower, "ratio": ratio, "criteria": n,
            "pairs": pairs, "agreeing": agree, "decision_accuracy": agree / pairs if pairs else float("nan"),
            "ci_low": lo, "ci_high": hi, "kendall_tau": tau, "best_in_a_rank_in_b": best, "resamples": RESAMPLES}


# -- what differs between the runs ------------------------------------------------------------------------
def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def _val(v) -> str:
    """A setting as the line writes it: a list (seeds) without brackets, an absent one as 'unset'."""
    if isinstance(v, list):
        return " ".join(map(str, v)) if v else "none"
    return "unset" if v is None else str(v)


def differences(a: Run, b: Run, na: str, nb: str) -> str:
    """One line from the manifests: model size, learning rate, budget and seeds first, then any other setting."""
    if not a.config or not b.config:
        missing = na if not a.config else nb
        return f"{missing} has no readable manifest.json: what differs from {nb if missing == na else na} is unknown"
    fa, fb = _flat(a.config), _flat(b.config)
    differ = [k for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k) and k.split(".")[0] not in NOT_SETTINGS]
    parts = []
    shape = [k for k in differ if k.startswith("model.")]
    if shape:
        size = [m.get("model", {}).get("non_embedding_params") for m in (a.manifest, b.manifest)]
        said = [f"{size[0]:,} → {size[1]:,} non-embedding parameters"] if None not in size else []
        said += [f"{k[6:]} {_val(fa.get(k))} → {_val(fb.get(k))}" for k in shape]
        parts.append(f"model size ({', '.join(said)})")
    for key, label in DIFFS:
        if key in differ:
            parts.append(f"{label} {_val(fa.get(key))} → {_val(fb.get(key))}")
    rest = [k for k in differ if not k.startswith("model.") and k not in dict(DIFFS)]
    if rest:
        parts.append("also " + ", ".join(f"{k} {_val(fa.get(k))} → {_val(fb.get(k))}" for k in rest[:4])
                     + (f" and {len(rest) - 4} more settings" if len(rest) > 4 else ""))
    if not parts:
        return f"{na} and {nb} have the same configuration (model size, learning rate, budget and seeds)"
    return f"{nb} differs from {na} in " + "; ".join(parts)


# -- tables and text --------------------------------------------------------------------------------------
def table(rows: list[dict], index: int, na: str, nb: str) -> Table:
    label = {m: n for m, n, _ in METRICS}
    columns = [("", "metric"), ("", "pruned"), ("", "criteria"), ("", "pairs"), ("", "decision accuracy"),
               ("", "95% interval"), ("", "Kendall τ"), ("", f"best in {na} (rank in {nb})")]
    cells, breaks, last = [], [], None
    for row in rows:
        if row["metric"] != last:
            breaks.append(len(cells))
            last = row["metric"]
        pooled = row["ratio"] == "all"
        cells.append([Cell(label[row["metric"]]), Cell("all" if pooled else pct(row["ratio"])),
                      Cell(str(row["criteria"])), Cell(str(row["pairs"])),
                      Cell(_num(row["decision_accuracy"]), bold=pooled),
                      Cell(f"{_num(row['ci_low'])} to {_num(row['ci_high'])}"),
                      Cell(("mean " if pooled else "") + _num(row["kendall_tau"])), Cell(row["best_in_a_rank_in_b"])])
    notes = [f"decision accuracy: the share of pairs of criteria that {nb} orders as {na} does, by seed mean (a pair "
             "tied in one run only counts 1/2); all: the pairs of every ratio pooled, with the mean of the ratios' τ.",
             f"95% interval: 2.5-97.5 percentiles over {RESAMPLES} bootstrap resamples of each run's seeds "
             f"(seed {BOOT_SEED}); a seed is resampled with all its cells. A resample repeats some seeds and drops "
             "others, which adds noise to both rankings, so the interval tends to lie below the accuracy of the seed "
             "means."]
    return Table(f"compare_{index}", f"Table C{index}: how far {na}'s ranking of criteria predicts {nb}'s", columns,
                 cells, "llrrrrrl", notes=notes, breaks=breaks, data=pd.DataFrame(rows))


def _num(x: float) -> str:
    return f"{x:.2f}" if np.isfinite(x) else "n/a"


def verdict(acc: float, lo: float, hi: float, nb: str) -> str:
    """The words for a decision accuracy and its interval; chance is 0.5, what an unrelated ranking scores."""
    if acc == 1 and lo == 1:
        return f"carries over exactly to {nb}'s, in every resample"
    if lo > 0.5:
        well = round(acc, 2) >= 0.8  # as the table shows it
        return f"predicts {nb}'s well" if well else f"predicts {nb}'s better than chance, but far from fully"
    if hi < 0.5:
        return f"predicts {nb}'s reversed: most pairs swap"
    return f"predicts {nb}'s no more surely than chance (0.5 lies within the interval)"


def summary(rows: list[dict], na: str, nb: str) -> str:
    """One sentence per metric, from the pooled row (or the only ratio): how far A's ranking predicts B's."""
    label = {m: n for m, n, _ in METRICS}
    out = []
    for metric in dict.fromkeys(r["metric"] for r in rows):
        mine = [r for r in rows if r["metric"] == metric]
        top = mine[-1]  # the pooled row, or the single ratio
        taus = ", ".join(f"{_num(r['kendall_tau'])} at {pct(r['ratio'])}" for r in mine if r["ratio"] != "all")
        where = "pooled over " + ", ".join(pct(r["ratio"]) for r in mine[:-1]) if top["ratio"] == "all" else \
            f"at {pct(top['ratio'])}"
        said = verdict(top["decision_accuracy"], top["ci_low"], top["ci_high"], nb)
        out.append(f"On {label[metric]}, {na}'s ranking {said}. {top['agreeing']:g} of the {top['pairs']} pairs of "
                   f"criteria are ordered alike {where} (decision accuracy {_num(top['decision_accuracy'])}, 95% "
                   f"interval {_num(top['ci_low'])} to {_num(top['ci_high'])}); Kendall τ {taus}.")
    return " ".join(out)


def shared_line(a: Run, b: Run, na: str, nb: str) -> str:
    crits, ratios, metrics = shared(a, b, na, nb)
    said = [f"{len(crits)} criteria in common ({', '.join(crits)}), ratios "
            f"{', '.join(map(pct, ratios))}, {len(metrics)} metric{'' if len(metrics) == 1 else 's'}"]
    for run, other, name in ((a, b, na), (b, a, nb)):
        only = [c for c in measured(run) if c not in measured(other)]
        if only:
            said.append(f"only in {name}, so left out: {', '.join(only)}")
    return "; ".join(said) + "."


# -- the figure ------------------------------------------------------------------------------------------
def figure(points: list[dict], pairs: list[tuple[str, str]], path: Path) -> bool:
    """A panel per (run pair, metric): each criterion's effect against random in RUN_A (x) and in RUN_B (y), one
    labelled point per (criterion, ratio); on the dashed diagonal an effect carries over at the same size."""
    frame = pd.DataFrame(points, columns=["run_a", "run_b", "metric", "criterion", "ratio", "delta_a", "delta_b"])
    panels = [(na, nb, m, name, lower) for na, nb in pairs for m, name, lower in METRICS
              if ((frame.run_b == nb) & (frame.metric == m)).any()]
    if not panels:
        path.unlink(missing_ok=True)  # no stale figure of an earlier comparison
        return False
    plt = _plt()
    tab20 = plt.get_cmap("tab20").colors
    colors = tab20[0::2] + tab20[1::2]  # the ten hues first, as in the report's figures
    crits, ratios = sorted(frame.criterion.unique()), sorted(frame.ratio.unique())
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 5.0 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (na, nb, metric, name, lower) in zip(axes.flat, panels):
        sel = frame[(frame.run_b == nb) & (frame.metric == metric)]
        for _, p in sel.iterrows():
            ax.scatter(p.delta_a, p.delta_b, color=colors[crits.index(p.criterion) % len(colors)],
                       marker=MARKERS[ratios.index(p.ratio) % len(MARKERS)], s=34, zorder=3)
            ax.annotate(f"{p.criterion} {pct(p.ratio)}", (p.delta_a, p.delta_b), xytext=(3, 3),
                        textcoords="offset points", fontsize=6.5)
        lo = min(sel.delta_a.min(), sel.delta_b.min(), 0.0)
        hi = max(sel.delta_a.max(), sel.delta_b.max(), 0.0)
        pad = 0.08 * (hi - lo) or 1e-3
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.9, zorder=1)
        ax.axhline(0, color="grey", lw=0.6, zorder=0)
        ax.axvline(0, color="grey", lw=0.6, zorder=0)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.locator_params(nbins=5)  # small effects have long tick labels: fewer ticks keep them apart
        better = "lower" if lower else "higher"
        ax.set_xlabel(f"{na}: mean minus random ({better} is better)")
        ax.set_ylabel(f"{nb}: mean minus random")
        ax.set_title(name + (f"\n{nb} against {na}" if len(pairs) > 1 else ""), fontsize=10)
        handles = [plt.Line2D([], [], ls="", marker=MARKERS[i % len(MARKERS)], color="grey",
                              label=f"pruned {pct(r)}") for i, r in enumerate(ratios)]
        ax.legend(handles=handles, fontsize=7, loc="upper left")
    fig.tight_layout()
    # colour names the criterion where labels pile up near the origin; markers name the ratio (each panel)
    keys = [plt.Line2D([], [], ls="", marker="o", color=colors[i % len(colors)], label=c)
            for i, c in enumerate(crits)]
    fig.legend(handles=keys, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(6, len(keys)), fontsize=8,
               frameon=False)
    _save(fig, path)
    return True


# -- the comparison ---------------------------------------------------------------------------------------
FIGURE_TEXT = ("Each point is one criterion at one pruning ratio: its seed mean minus random's at the same ratio, "
               "in {a} (x) against {b} (y). On the dashed diagonal an effect carries over at the same size; in "
               "the top-right and bottom-left quadrants it keeps its sign; across the axes it flips. Different "
               "model sizes shift every metric's scale, so read the order and the signs before the distances.")


def compare(run_dirs: list[Path], out: Path | None = None) -> str:
    """Compare RUN_A's ranking of criteria with each other run's; write compare.{md,csv,tex,png} and
    compare_deltas.csv to `out` (default: compare-<A>-<B>... beside RUN_A); return compare.md's text."""
    if len(run_dirs) < 2:
        raise UserError("bench compare needs two run folders or more: RUN_A, whose ranking is tested, and the "
                        "runs it should predict")
    resolved = [Path(d).resolve() for d in run_dirs]
    twice = next((d for i, d in enumerate(resolved) if d in resolved[:i]), None)
    if twice is not None:
        raise UserError(f"run folder {twice} is given twice: compare a run with another run")
    runs = [load_run(Path(d)) for d in run_dirs]
    labels = names(runs)
    a, na = runs[0], labels[0]
    pairs = [(b, nb, *compare_pair(a, b, na, nb)) for b, nb in zip(runs[1:], labels[1:])]
    folder = Path(out) if out else resolved[0].parent / ("compare-" + "-".join(n.replace("/", "_") for n in labels))

    folder.mkdir(parents=True, exist_ok=True)
    tables = [table(rows, i, na, nb) for i, (_, nb, rows, _) in enumerate(pairs, 1)]
    points = [p for *_, pts in pairs for p in pts]
    drew = figure(points, [(na, nb) for _, nb, _, _ in pairs], folder / "compare.png")
    others = ", ".join(nb for _, nb, _, _ in pairs)
    lines = [f"# Does the ranking of criteria in {md_escape(na)} hold in {md_escape(others)}?", "",
             md_escape(f"For each metric, the criteria of {na} are ranked by their mean over seeds at each pruning "
                       f"ratio, and each pair of criteria is checked: does {others} order it the same way? Decision "
                       "accuracy is the share of pairs ordered alike (1: the same ranking, 0: reversed, about 0.5: "
                       "unrelated); Kendall τ is the rank correlation (1, -1, 0 in the same cases)."), ""]
    for (b, nb, rows, _), t in zip(pairs, tables):
        lines += [f"## {md_escape(na)} against {md_escape(nb)}", "", md_escape(differences(a, b, na, nb) + "."), "",
                  md_escape(shared_line(a, b, na, nb)), "", md_escape(summary(rows, na, nb)), ""]
        if len(a.seeds) == 1 and len(b.seeds) == 1:
            lines += ["Each run has one seed: the intervals are points, as no seed noise can be measured.", ""]
        lines += [f"### {md_escape(t.title)}", "", to_markdown(t)]
    if drew:
        lines += ["## Effects against random, run by run", "", "![each criterion's effect against random in "
                  f"{md_escape(na)} against {md_escape(others)}](compare.png)", "",
                  md_escape(FIGURE_TEXT.format(a=na, b=others)), ""]
    else:
        lines += ["No figure: random, the baseline of the effects, is not a criterion that the runs share.", ""]
    text = "\n".join(lines)
    atomic_write_text(folder / "compare.md", text)
    data = pd.concat([t.data for t in tables], ignore_index=True)
    atomic_write_text(folder / "compare.csv", data.to_csv(index=False, lineterminator="\n"))
    deltas = pd.DataFrame(points, columns=["run_a", "run_b", "metric", "criterion", "ratio", "delta_a", "delta_b"])
    atomic_write_text(folder / "compare_deltas.csv", deltas.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(folder / "compare.tex", "\n".join(to_latex(t) for t in tables))
    written = "compare.md, compare.csv, compare_deltas.csv, compare.tex" + (", compare.png" if drew else "")
    return text + f"\nComparison: {folder} ({written}).\n"
