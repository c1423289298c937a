"""The one-page report: every table and figure of a run, each with a paragraph on what to read from it.

The page is a list of blocks (headings, paragraphs, tables, figures) rendered twice: `report.md`, which
shows the PNGs beside it in the run folder, and, on request, `report.html`, one self-contained file with
the figures inlined. Paragraphs are plain text with `code` spans, so both renderings come from one source.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np

from ..store import FULL
from .render import Table, md_escape, to_html, to_markdown
from .rundata import BASELINE, Run
from .tables import mean_std, p_text, paired_test, pct

Block = tuple  # ("h1" | "h2" | "p", text), ("table", Table), ("img", file name, alt text)

FIGURE_TEXT = {
    "bpb.png": (
        "held-out bits per byte against the fraction pruned",
        "Each line is one criterion's mean held-out bits per byte at each pruning ratio (lower is better); the "
        "shaded band is ±1 standard deviation over seeds, and the dashed black line (with its band) is the model "
        "trained on the whole pool. Read a criterion against the thick `random` line first: it helps only where "
        "its line stays below random's by more than the bands. Below the dashed line, pruning beats keeping "
        "everything at the same number of training tokens. The out-of-domain panel is text that no training "
        "saw: a criterion that narrows the pool towards some sources can gain in-domain and lose there."),
    "downstream.png": (
        "downstream averages against the fraction pruned",
        "The same lines for the downstream tasks: centered accuracy is 0 at chance and 1 at perfect, averaged "
        "over tasks (higher is better). Models this small sit near chance, so read differences only where they "
        "clear the seed bands; Table 2 has the tasks one by one."),
    "composition.png": (
        "the kept set's make-up by source, per criterion and ratio",
        "Each bar is one kept set (the first seed's), split by the share of its tokens from each source; the "
        "top bar is the whole pool. Where a criterion's bar differs from the pool's, it changed the data "
        "mixture, not just the quality within each source: a length or compression score, for one, favours "
        "the sources with long or repetitive documents. A mixture shift often explains a row of Table 1 "
        "better than any notion of informativeness."),
    "agreement.png": (
        "agreement between criteria",
        "Spearman's ρ compares the raw scores over the whole pool: near ±1, two criteria order the pool the "
        "same way (or exactly reversed). It ignores the selection mode, so `perplexity` and "
        "`perplexity:keep=bottom` correlate perfectly yet keep opposite ends. The Jaccard panels compare what "
        "was actually kept at each ratio (first seed): two unrelated criteria that each keep a fraction k = 1 - r "
        "overlap by about k / (2 - k), 0.33 at r = 0.5; well above that, they keep the same samples and their "
        "rows in Table 1 are not independent evidence."),
    "scores.png": (
        "each criterion's score distribution",
        "The distribution of each criterion's raw score over the pool (clipped to its 0.5-99.5 percentile "
        "range); where the run stored kept sets, blue is kept and grey pruned at the middle ratio. It shows "
        "where each criterion cuts: at the top, the bottom, a middle band, or by sampling, and whether the cut "
        "falls inside a dense region, where tiny score differences decide what is kept."),
}


def config_line(run: Run) -> str:
    cfg, m = run.config, run.manifest
    parts = []
    if cfg:
        parts.append(f"preset `{cfg.get('preset')}`, corpus `{cfg.get('data', {}).get('corpus')}`, training budget "
                     f"`{cfg.get('train', {}).get('budget')}` per cell, probe budget "
                     f"`{cfg.get('probe_train', {}).get('budget')}` (probe `{cfg.get('probe')}`)")
    parts.append(f"ratios {', '.join(pct(r) for r in run.ratios) or 'none'}, seeds {run.seeds}")
    model = cfg.get("model", {})
    if model:
        params = m.get("model", {})
        size = (f", {params['non_embedding_params']:,} non-embedding parameters"
                if "non_embedding_params" in params else "")
        size += f", {params['params']:,} in all" if "params" in params else ""
        layers = model.get("n_layers")
        parts.append(f"model d_model {model.get('d_model')}, {layers} layer{'' if layers == 1 else 's'}, context "
                     f"{model.get('seq_len')}, vocabulary {model.get('vocab_size')}{size}")
    pool = m.get("split", {}).get("pool")
    if pool:
        parts.append(f"pool {pool['samples']:,} samples, {pool['tokens']:,} tokens")
    versions = m.get("versions", {})
    if versions:
        parts.append("versions " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    machine = m.get("machine")
    if machine:
        parts.append("machine " + (machine if isinstance(machine, str) else ", ".join(
            f"{k} {' '.join(v) if isinstance(v, list) else v}" for k, v in sorted(machine.items()))))
    return "; ".join(parts) + "."


def target_line(run: Run) -> str | None:
    """Which text the criteria that select towards a target read: the dev set, never the test set."""
    declared = [c for c in run.criteria if run.criterion_info(c).get("uses_target")]
    if not declared:
        return None
    split = run.manifest.get("split", {})

    def described(name: str) -> str:
        part = split.get(name, {})
        if not part:
            return ""
        return f" ({part['samples']:,} samples, {part['tokens']:,} tokens, fingerprint {part['fingerprint']})"

    readers = [c for c in declared if "target" in run.criterion_info(c).get("services_used", [])]
    text = []
    if readers:
        text.append(f"{', '.join(f'`{c}`' for c in readers)} read the dev set{described('dev')}: held-out text that "
                    "no model trains on and no metric reads. Evaluation reads the test set"
                    f"{described('in_domain')} alone, and no criterion is offered it.")
    others = [c for c in declared if c not in readers]
    if others:
        recorded = all("services_used" in run.criterion_info(c) for c in others)
        why = ("their parameters name pool text as the target instead" if recorded else
               "this run folder does not record which services their scoring used")
        text.append(f"{', '.join(f'`{c}`' for c in others)} read no target set of this run: {why}.")
    return " ".join(text)


def isa_line(run: Run) -> str | None:
    """What `bench isa-check` found: the run's seed recomputed with every library held to other vector units."""
    check = run.isa_check
    if not check or not check.get("kept"):
        return None
    cells = [v for row in check["kept"] for k, v in row.items() if k.startswith("differ@") and v is not None]
    moved = sum(v for v in cells)
    text = (f"Recomputed by `bench isa-check` with every library held to {check.get('isa', '?')} (from an empty cache: "
            f"tokenizer, probe, embeddings, scores), seed {check.get('seed')} kept the same samples in "
            f"{sum(v == 0 for v in cells)} of {len(cells)} (criterion, ratio) cells ({moved} samples moved in all).")
    diffs = [m["abs_diff"] for m in check.get("metrics", []) if m["metric"] in ("bpb/in_domain", "bpb/ood")]
    if diffs:
        n = len({(m["criterion"], m["ratio"]) for m in check["metrics"]})
        whose = "cell's" if n == 1 else "cells'"
        text += (f" Retrained there, {n} {whose} held-out bits per byte moved by at most "
                 f"{max(diffs):.2g}.")
    return text + " `isa_check.md` has the details."


def at_a_glance(run: Run) -> list[str]:
    """One sentence per ratio: the best criterion on in-domain bpb, next to random and the full data."""
    metric = "bpb/in_domain"
    if not run.has(metric):
        return []
    full = mean_std(run.values(metric, FULL, 0.0))[0]
    out = []
    for r in run.ratios:
        means = {c: mean_std(run.values(metric, c, r))[0] for c in run.criteria}
        means = {c: v for c, v in means.items() if np.isfinite(v)}
        if not means:
            continue
        best = min(means, key=lambda c: (means[c], c))
        text = f"pruned {pct(r)}: lowest in-domain bits per byte {means[best]:.4f} with `{best}`"
        if BASELINE in means and best != BASELINE:
            text += f" (random {means[BASELINE]:.4f})"
        if np.isfinite(full):
            text += f"; full data {full:.4f}"
        out.append(text + ".")
    better, worse = [], []
    for r in run.ratios:
        base = run.values(metric, BASELINE, r)
        for c in run.criteria:
            vals = run.values(metric, c, r)
            p, _ = paired_test(vals, base) if c != BASELINE else (None, 0)
            if p is not None and p < 0.05:
                diff = mean_std(vals)[0] - mean_std(base)[0]
                (better if diff < 0 else worse).append(f"`{c}` at {pct(r)} ({diff:+.4f}, p {p_text(p)})")
    if len(run.seeds) > 1 and BASELINE in run.criteria:
        out.append("Significantly better than random on in-domain bits per byte (paired t-test over seeds, "
                   f"p < 0.05): {', '.join(better) or 'none'}; significantly worse: {', '.join(worse) or 'none'}.")
    return out


def build(run: Run, tables: dict[str, Table], texts: dict[str, str], compute: tuple[Table | None, list[str]],
          figures: list[str], files: list[str]) -> list[Block]:
    name = run.dir.resolve().name
    blocks: list[Block] = [("h1", f"{name}: data-pruning benchmark report"), ("p", config_line(run))]
    for line in (target_line(run), isa_line(run)):
        if line:
            blocks.append(("p", line))
    glance = at_a_glance(run)
    if glance:
        blocks += [("h2", "At a glance"), ("p", " ".join(glance) + (
            " One seed: read the differences as a demonstration, not a ranking." if len(run.seeds) < 2 else ""))]
    if texts.get("verdict"):
        blocks += [("h2", "Verdict on the seed paper's criteria"), ("p", texts["verdict"] + (
            " Written by the report from Tables 4 and 5: only the metrics that rank criteria consistently across "
            "seeds at a ratio are tested there."))]
    if run.notes:
        blocks.append(("p", "Left out: " + "; ".join(run.notes) + "."))
    for key in ("table1", "table1_ood"):
        if key in tables:
            blocks += [("h2", tables[key].title), ("table", tables[key])]
    if "bpb.png" in figures:
        blocks += _figure("bpb.png")
    blocks.append(("h2", tables["table2"].title if "table2" in tables else "Downstream tasks"))
    if "table2" in tables:
        blocks += [("table", tables["table2"])] + (_figure("downstream.png") if "downstream.png" in figures else [])
    else:
        blocks.append(("p", "This run recorded no downstream task metrics (`task/<task>/acc_norm` in results.csv)."))
    if "table2b" in tables:
        blocks += [("h2", tables["table2b"].title), ("table", tables["table2b"])]
    blocks.append(("h2", tables["table3"].title if "table3" in tables else "Table 3: planted-junk diagnostic"))
    if "table3" in tables:
        blocks.append(("table", tables["table3"]))
    else:
        blocks.append(("p", "Not run for this folder: `bench diagnose --criteria all --out RUN_DIR` writes the "
                            "diagnose.csv this table comes from."))
    blocks.append(("h2", "Which metrics can rank criteria here"))
    blocks.append(("p", texts.get("snr") or "No metric could be checked."))
    for key in ("snr", "verdict"):
        if key in tables:
            blocks += [("h2", tables[key].title), ("table", tables[key])]
    if "profiles" in tables:
        blocks += [("h2", tables["profiles"].title), ("p", texts.get("profiles", "")), ("table", tables["profiles"])]
    if "terms" in tables:
        blocks += [("h2", tables["terms"].title), ("table", tables["terms"])]
    blocks.append(("h2", "What each criterion kept"))
    kept = [f for f in ("composition.png", "scores.png") if f in figures]
    for f in kept:
        blocks += _figure(f)
    if "examples" in tables:
        blocks += [("p", "The highest- and lowest-scoring pool samples of each criterion, by raw score. They show "
                         "what a criterion's notion of least informative (or least typical, or most duplicated) "
                         "looks like in this corpus, and which end of the scale its selection mode prunes."),
                   ("table", tables["examples"])]
    if not kept and "examples" not in tables:
        blocks.append(("p", "This run folder holds no pool, scores or kept sets (pool.parquet, scores.parquet, "
                            "kept_mask in the cell records): a run made with this version of `bench run` has them."))
    blocks.append(("h2", "Agreement between criteria"))
    blocks += _figure("agreement.png") if "agreement.png" in figures else [
        ("p", "Needs scores.parquet or kept masks from the run.")]
    table, paragraph = compute
    blocks.append(("h2", "Compute: is pruning worth it here?"))
    if table is not None:
        blocks += [("p", " ".join(paragraph)), ("table", table)]
    else:
        blocks.append(("p", "The manifest holds no timings or no cell records, so there is nothing to account."))
    if run.failures:
        blocks += [("h2", "Failed cells"), ("list", [f"{f['criterion']} ratio {pct(float(f['ratio']))} seed "
                                                      f"{f['seed']}: {md_escape(str(f['error']))}"
                                                      for f in run.failures])]
    blocks += [("h2", "Files"), ("p", "Regenerate everything here from the stored results, without retraining or "
                                      f"rescoring: `python -m bench report {name}` (run from its parent folder)."),
               ("list", files)]
    return blocks


def _figure(file: str) -> list[Block]:
    alt, text = FIGURE_TEXT[file]
    return [("img", file, alt), ("p", text)]


# -- rendering ---------------------------------------------------------------------------------------------
def to_md(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b[0] == "h1":
            out.append(f"# {b[1]}")
        elif b[0] == "h2":
            out.append(f"## {b[1]}")
        elif b[0] == "p":
            out.append(b[1])
        elif b[0] == "table":
            out.append(to_markdown(b[1]).rstrip("\n"))
        elif b[0] == "img":
            out.append(f"![{b[2]}]({b[1]})")
        elif b[0] == "list":
            out.append("\n".join(f"- {item}" for item in b[1]))
    return "\n\n".join(out) + "\n"


CODE = re.compile(r"`([^`]+)`")
STYLE = ("body{font-family:sans-serif;max-width:80em;margin:2em auto;padding:0 1em;line-height:1.4}"
         "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
         "th,td{padding:0.2em 0.6em;border-bottom:1px solid #ddd}thead th{border-bottom:2px solid #333}"
         "tr.block td{border-top:2px solid #999}p.note{font-size:0.8em;color:#444;margin:0.2em 0}"
         "img{max-width:100%}code{background:#f3f3f3}")


def _inline(text: str) -> str:
    return CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


def to_page_html(blocks: list[Block], folder: Path) -> str:
    title = next((b[1] for b in blocks if b[0] == "h1"), "report")
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
           f"<style>{STYLE}</style>", "</head><body>"]
    for b in blocks:
        if b[0] in ("h1", "h2"):
            out.append(f"<{b[0]}>{html.escape(b[1])}</{b[0]}>")
        elif b[0] == "p":
            out.append(f"<p>{_inline(b[1])}</p>")
        elif b[0] == "table":
            out.append(to_html(b[1]))
        elif b[0] == "img":
            data = base64.b64encode((folder / b[1]).read_bytes()).decode()
            out.append(f'<p><img alt="{html.escape(b[2])}" src="data:image/png;base64,{data}"></p>')
        elif b[0] == "list":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
