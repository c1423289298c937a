"""The report: a Markdown table of held-out bits per byte by criterion and ratio, and one plot.

It reads only the run folder (`results.csv`, `manifest.json`); it never retrains or rescores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .atomic import atomic_write_text
from .errors import UserError
from .store import FULL

METRICS = {"bpb/in_domain": "in-domain held-out", "bpb/ood": "out-of-domain"}


def load_results(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / "results.csv"
    if not Path(run_dir).is_dir():
        raise UserError(f"run folder {run_dir} does not exist; give a folder written by 'bench run --out DIR'")
    if not path.exists():
        raise UserError(f"{run_dir} has no results.csv; is it a folder written by 'bench run'?")
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"{path} is not a readable results table: {exc}") from None
    if frame.empty:
        raise UserError(f"{path} holds no finished cells yet")
    return frame


def summary(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, std and seed count of `metric` per (criterion, ratio)."""
    sel = frame[frame.metric == metric]
    return sel.groupby(["criterion", "ratio"])["value"].agg(["mean", "std", "count"]).reset_index()


def _fmt(mean: float, std: float, count: int) -> str:
    return f"{mean:.4f}" if count < 2 else f"{mean:.4f} ± {std:.4f}"


def markdown_table(frame: pd.DataFrame, metric: str, failed: frozenset = frozenset()) -> str:
    """Rows are criteria, columns are pruning ratios; the full-data row repeats its value in every column.

    `failed` holds (criterion, ratio) pairs with a failed seed: such a cell reads `failed`, or its value
    over the seeds that finished followed by a dagger.
    """
    stats = summary(frame, metric)
    if stats.empty:
        return ""
    ratios = sorted({r for r in stats.ratio.unique() if r > 0} | {r for _, r in failed})
    full = stats[stats.criterion == FULL]
    lines = [
        "| criterion | " + " | ".join(f"pruned {r:g}" for r in ratios) + " |",
        "|---|" + "---:|" * len(ratios),
    ]
    if not full.empty:
        f = full.iloc[0]
        lines.append("| full data | " + " | ".join(_fmt(f["mean"], f["std"], f["count"]) for _ in ratios) + " |")
    for crit in sorted({c for c in stats.criterion.unique() if c != FULL} | {c for c, _ in failed}):
        rows = stats[stats.criterion == crit].set_index("ratio")
        cells = []
        for r in ratios:
            value = _fmt(*rows.loc[r, ["mean", "std", "count"]]) if r in rows.index else ""
            if (crit, r) in failed:
                value = f"{value} †" if value else "failed"
            cells.append(value or "—")
        lines.append(f"| {crit} | " + " | ".join(cells) + " |")
    if failed:
        lines += ["", "† or `failed`: a seed of this cell failed; its error is in `cells/*.failed.json`."]
    return "\n".join(lines)


def plot(frame: pd.DataFrame, path: Path) -> None:
    """Each metric against the pruning ratio: one line per criterion, error bars over seeds, full data dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if (frame.metric == m).any()]
    criteria = sorted(c for c in frame.criterion.unique() if c != FULL)
    # A colour and a marker per criterion: with a dozen criteria, colour alone repeats or blurs.
    colors, markers = plt.get_cmap("tab20").colors, "osD^v<>phX*P"
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics) + 2.5, 4.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        stats = summary(frame, metric)
        for i, crit in enumerate(criteria):
            s = stats[stats.criterion == crit].sort_values("ratio")
            ax.errorbar(s.ratio, s["mean"], yerr=s["std"].fillna(0), marker=markers[i % len(markers)],
                        color=colors[i % len(colors)], capsize=3, label=crit)
        full = stats[stats.criterion == FULL]
        if not full.empty:
            ax.axhline(full["mean"].iloc[0], color="black", linestyle="--", label="full data")
        ax.set_xlabel("fraction of the pool pruned")
        ax.set_ylabel("bits per byte (lower is better)")
        ax.set_title(f"{METRICS[metric]} bits per byte")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(run_dir: Path) -> str:
    """The report as Markdown; also writes `report.md` and `bpb.png` into the run folder."""
    run_dir = Path(run_dir)
    frame = load_results(run_dir)
    manifest = {}
    if (run_dir / "manifest.json").exists():
        manifest = json.loads((run_dir / "manifest.json").read_text())
    seeds = sorted(int(s) for s in frame.seed.unique())
    parts = [f"# {run_dir.name}: held-out bits per byte (lower is better)", ""]
    cfg = manifest.get("config", {})
    if cfg:
        parts.append(f"preset `{cfg.get('preset')}`, corpus `{cfg.get('data', {}).get('corpus')}`, "
                     f"budget `{cfg.get('train', {}).get('budget')}` per cell, seeds {seeds}; "
                     "mean ± std over seeds where there are several.")
        parts.append("")
    failed = frozenset((c["criterion"], c["ratio"]) for c in manifest.get("cells", []) if c.get("status") == "failed")
    for metric, title in METRICS.items():
        table = markdown_table(frame, metric, failed)
        if table:
            parts += [f"## {title}", "", table, ""]
    failed = [c for c in manifest.get("cells", []) if c.get("status") == "failed"]
    if failed:
        parts += ["## failed cells", ""] + [f"- {c['criterion']} ratio {c['ratio']} seed {c['seed']}: {c['error']}"
                                            for c in failed] + [""]
    plot(frame, run_dir / "bpb.png")
    parts.append("![bits per byte against pruning ratio](bpb.png)")
    text = "\n".join(parts) + "\n"
    atomic_write_text(run_dir / "report.md", text)
    return text
