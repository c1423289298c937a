"""The report's figures, PNG files in the run folder, each drawn only when the run holds its data:

- `bpb.png`: held-out bits per byte (in-domain, out-of-domain) against the fraction pruned;
- `downstream.png`: the downstream averages against the fraction pruned;
- `composition.png`: the kept set's make-up by source, per criterion and ratio;
- `agreement.png`: Spearman correlation of the criteria's scores, Jaccard overlap of their kept sets;
- `scores.png`: each criterion's score distribution, kept and pruned parts at the middle ratio.

Figures are deterministic: the Agg backend, no timestamp or software tag in the PNG metadata.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..store import FULL
from .rundata import BASELINE, Run
from .tables import mean_std

MARKERS = "osD^v<>phX*P8"
DPI = 110


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "infoprune"  # fixed ids, should SVG output ever be added
    return plt


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)


def _style(run: Run) -> dict[str, tuple]:
    """One (colour, marker) per criterion, the same in every figure; with a dozen criteria colour alone repeats."""
    tab20 = _plt().get_cmap("tab20").colors
    colors = tab20[0::2] + tab20[1::2]  # tab20 pairs a dark and a light shade of each hue: the ten hues first
    return {c: (colors[i % len(colors)], MARKERS[i % len(MARKERS)]) for i, c in enumerate(run.criteria)}


# -- metrics against the pruning ratio -------------------------------------------------------------------
def metric_figure(run: Run, panels: list[tuple[str, str, str]], path: Path) -> bool:
    """One panel per (metric, title, y label): a line per criterion with a ±1 std band over seeds, and the
    full-data level (with its band) as a dashed line."""
    panels = [p for p in panels if run.has(p[0])]
    if not panels or not run.ratios:
        return False
    plt, style = _plt(), _style(run)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, (metric, title, ylabel) in zip(axes[0], panels):
        for crit in run.criteria:
            pts = [(r, *mean_std(run.values(metric, crit, r))[:2]) for r in run.ratios]
            pts = [p for p in pts if np.isfinite(p[1])]
            if not pts:
                continue
            x, m, s = (np.array(v) for v in zip(*pts))
            color, marker = style[crit]
            ax.plot(x, m, marker=marker, color=color, label=crit, lw=2.4 if crit == BASELINE else 1.4,
                    ms=5, zorder=3 if crit == BASELINE else 2)
            if np.isfinite(s).any():
                s = np.nan_to_num(s)
                ax.fill_between(x, m - s, m + s, color=color, alpha=0.12, lw=0)
        fm, fs, _ = mean_std(run.values(metric, FULL, 0.0))
        if np.isfinite(fm):
            ax.axhline(fm, color="black", ls="--", lw=1.2, label="full data")
            if np.isfinite(fs):
                ax.axhspan(fm - fs, fm + fs, color="black", alpha=0.07, lw=0)
        ax.set_xticks(run.ratios)
        ax.set_xlabel("fraction of the pool pruned")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False)
    fig.tight_layout()
    _save(fig, path)
    return True


# -- composition of the kept set ------------------------------------------------------------------------
def composition(run: Run) -> tuple[pd.DataFrame, str] | None:
    """Kept tokens (or samples) by source for the full pool and every (criterion, ratio) at the first seed
    that has them: from the cell records, else from the kept masks and the pool table."""
    unit = "tokens"
    rows = []
    for crit, r in [(FULL, 0.0)] + [(c, r) for c in run.criteria for r in run.ratios]:
        rec = run.record(crit, r)
        by = (rec or {}).get("kept_tokens_by_source")
        if by is None and run.pool is not None and "source" in run.pool:
            mask = np.ones(len(run.pool), bool) if crit == FULL else run.mask(crit, r)
            if mask is not None and "n_tokens" in run.pool:
                by = run.pool[mask].groupby("source")["n_tokens"].sum().to_dict()
        if by is None and (rec or {}).get("kept_by_source") is not None:
            by, unit = rec["kept_by_source"], "samples"
        for source, n in (by or {}).items():
            rows.append({"criterion": crit, "ratio": r, "source": source, "n": float(n)})
    if not rows or not any(row["criterion"] != FULL for row in rows):
        return None
    frame = pd.DataFrame(rows)
    frame["share"] = frame.n / frame.groupby(["criterion", "ratio"]).n.transform("sum")
    return frame, unit


def composition_figure(run: Run, path: Path) -> bool:
    found = composition(run)
    if found is None:
        return False
    frame, unit = found
    plt = _plt()
    pool = frame[frame.criterion == FULL].set_index("source").share
    sources = sorted(frame.source.unique(), key=lambda s: (-pool.get(s, 0.0), s))
    colors = plt.get_cmap("tab20" if len(sources) > 10 else "tab10").colors
    present = set(frame.criterion)
    labels = [c for c in [FULL, *run.criteria] if c in present]
    ratios = [r for r in run.ratios if ((frame.ratio == r) & (frame.criterion != FULL)).any()]
    fig, axes = plt.subplots(1, len(ratios), figsize=(3.6 * len(ratios) + 0.6, 0.32 * len(labels) + 1.6),
                             squeeze=False, sharey=True)
    for ax, r in zip(axes[0], ratios):
        sel = frame[(frame.ratio == r) | (frame.criterion == FULL)]
        wide = sel.pivot_table(index="criterion", columns="source", values="share", fill_value=0.0)
        wide = wide.reindex(index=labels, columns=sources, fill_value=0.0)
        left = np.zeros(len(labels))
        for j, source in enumerate(sources):
            ax.barh(range(len(labels)), wide[source].to_numpy(), left=left, color=colors[j % len(colors)],
                    label=source, height=0.8)
            left += wide[source].to_numpy()
        ax.set_yticks(range(len(labels)), ["full pool" if c == FULL else c for c in labels], fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_title(f"pruned {r:g}")
        ax.set_xlabel(f"share of kept {unit}")
    axes[0][0].invert_yaxis()  # the full pool on top; once: the panels share their y axis
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False,
               title="source")
    fig.tight_layout()
    _save(fig, path)
    return True


# -- agreement between criteria ---------------------------------------------------------------------------
def spearman(run: Run) -> pd.DataFrame | None:
    cols = run.score_columns
    if len(cols) < 2:
        return None
    # pandas ranks each column and correlates over the rows both have: NaN scores drop out pairwise
    return run.scores[cols].astype(float).corr(method="spearman")


def jaccard(run: Run, ratio: float) -> pd.DataFrame | None:
    masks = {c: m for c in run.criteria if (m := run.mask(c, ratio)) is not None}
    sizes = {len(m) for m in masks.values()}
    if len(masks) < 2 or len(sizes) != 1:
        return None
    names = list(masks)
    stack = np.stack([masks[c] for c in names]).astype(np.int64)
    inter = stack @ stack.T
    counts = stack.sum(axis=1)
    union = counts[:, None] + counts[None, :] - inter
    return pd.DataFrame(np.where(union > 0, inter / np.maximum(union, 1), 1.0), index=names, columns=names)


def agreement_figure(run: Run, path: Path) -> bool:
    panels = []
    rho = spearman(run)
    if rho is not None:
        panels.append(("Spearman ρ of the scores", rho, -1.0, "RdBu_r"))
    for r in run.ratios:
        jac = jaccard(run, r)
        if jac is not None:
            panels.append((f"Jaccard overlap of kept sets, pruned {r:g}", jac, 0.0, "viridis"))
    if not panels:
        return False
    plt = _plt()
    n = max(len(p[1]) for p in panels)
    side = 0.42 * n + 2.2
    ncols = min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols + 1.0, side * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, mat, vmin, cmap) in zip(axes.flat, panels):
        im = ax.imshow(mat.to_numpy(dtype=float), vmin=vmin, vmax=1.0, cmap=cmap)
        ax.set_xticks(range(len(mat)), mat.columns, rotation=90, fontsize=7)
        ax.set_yticks(range(len(mat)), mat.index, fontsize=7)
        if len(mat) <= 16:
            for (i, j), v in np.ndenumerate(mat.to_numpy(dtype=float)):
                if np.isfinite(v):
                    dark = v > 0.55 if cmap == "viridis" else abs(v) > 0.6
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color=("black" if cmap == "viridis" else "white") if dark else
                            ("white" if cmap == "viridis" else "black"))
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    _save(fig, path)
    return True


# -- score distributions ----------------------------------------------------------------------------------
def middle_ratio(run: Run) -> float | None:
    return run.ratios[len(run.ratios) // 2] if run.ratios else None


def scores_figure(run: Run, path: Path) -> bool:
    """A histogram per criterion over its 0.5-99.5 percentile range (tails pile up at the edges); with
    a kept mask, the kept and pruned samples at the middle ratio are stacked in two colours."""
    cols = run.score_columns
    if not cols:
        return False
    plt = _plt()
    r = middle_ratio(run)
    ncols = min(4, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows), squeeze=False)
    for ax in axes.flat[len(cols):]:
        ax.axis("off")
    legend_ax = None
    for ax, crit in zip(axes.flat, cols):
        s = run.scores[crit].to_numpy(dtype=float)
        ok = np.isfinite(s)
        if not ok.any():
            ax.set_title(f"{crit}: no finite scores", fontsize=8)
            continue
        lo, hi = np.quantile(s[ok], [0.005, 0.995])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 41)
        x = np.clip(s, lo, hi)
        mask = run.mask(crit, r) if r is not None else None
        if mask is not None and len(mask) == len(s):
            legend_ax = legend_ax or ax
            ax.hist([x[ok & mask], x[ok & ~mask]], bins=bins, stacked=True, color=["tab:blue", "lightgrey"],
                    label=["kept", "pruned"])
        else:
            ax.hist(x[ok], bins=bins, color="tab:gray")
        keep = run.criterion_info(crit).get("keep")
        ax.set_title(crit + (f" (keeps {keep})" if keep else ""), fontsize=8)
        ax.tick_params(labelsize=7)
    if legend_ax is not None:
        fig.legend(*legend_ax.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.0, 0.98),
                   fontsize=8, frameon=False, title=f"pruned {r:g}")
    fig.tight_layout()
    _save(fig, path)
    return True
