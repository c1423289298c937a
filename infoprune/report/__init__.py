"""`bench report RUN_DIR`: paper-style tables, figures and a one-page report, from a run folder alone.

It reads only what `bench run` stored (results.csv, manifest.json, cells/, pool.parquet, scores.parquet,
and diagnose.csv when `bench diagnose --out` wrote one); it never retrains or rescores. It writes:

- `tables/`: Table 1 (in-domain) and 1b (out-of-domain), Table 2 (downstream per task) and 2b (continuous
  downstream metrics), Table 3 (the planted-junk diagnostic), Table 4 (which metrics can rank criteria here),
  Table 5 (the verdict on the seed paper's criteria), Tables 6 and 7 (what each criterion is made of), the
  examples and the compute accounting, each as `.md`, `.tex` and `.csv` (whichever `formats` asks for), plus
  the agreement and composition numbers as CSV;
- `bpb.png`, `downstream.png`, `composition.png`, `agreement.png`, `scores.png` (as the data allows);
- `report.md`, the one page that embeds all of it, and with `html`, `report.html` with the figures inlined.

Re-running it on the same folder rewrites every table byte for byte.

The modules: rundata (reading the folder), tables, decide, profiles and compute (building tables), render
(formats), figures, page (the one page).
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import UserError
from . import figures as fig
from .compute import accounting
from .page import build, to_md, to_page_html
from .render import Table, md_escape, to_csv, to_latex, to_markdown
from .rundata import Run, load_results, load_run
from .decide import snr_table, snr_text, stability, verdict_table, verdict_text, verdicts
from .profiles import length_text, profile_table, terms_table
from .tables import examples, table1, table1_ood, table2, table2_continuous, table3

__all__ = ["report", "load_results", "load_run", "FORMATS"]

FORMATS = ("md", "tex", "csv", "html")
DEFAULT_FORMATS = ("md", "tex", "csv")
TABLE_WRITERS = {"md": to_markdown, "tex": to_latex, "csv": to_csv}


def check_formats(formats) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UserError(f"unknown report format {bad[0]!r}; valid formats: {', '.join(FORMATS)}")
    if not formats:
        raise UserError(f"no report format given; valid formats: {', '.join(FORMATS)}")
    return formats


def report(run_dir: Path, formats: tuple[str, ...] = DEFAULT_FORMATS) -> str:
    """Write the tables, figures and report.md (and report.html) of a run folder; return Table 1 and 1b in
    Markdown, with a line saying where the rest went."""
    formats = check_formats(formats)
    run = load_run(Path(run_dir))
    folder = run.dir

    rows = stability(run)
    found = verdicts(run, rows)
    tables: dict[str, Table] = {}
    for t in (table1(run), table1_ood(run), table2(run), table2_continuous(run), table3(run), snr_table(run, rows),
              verdict_table(found), profile_table(run), terms_table(run), examples(run)):
        if t is not None:
            tables[t.name] = t
    texts = {"snr": snr_text(rows), "verdict": verdict_text(run, found, rows),
             "profiles": length_text(run, tables.get("profiles"))}
    compute = accounting(run)
    written = ["report.md"] + (["report.html"] if "html" in formats else [])
    every = list(tables.values()) + ([compute[0]] if compute[0] is not None else [])
    for t in every:
        for f in formats:
            if f in TABLE_WRITERS:
                atomic_write_text(folder / "tables" / f"{t.name}.{f}", TABLE_WRITERS[f](t))
                written.append(f"tables/{t.name}.{f}")
    if "csv" in formats:
        written += _write_numbers(run, folder)

    figures = [name for name, draw in (
        ("bpb.png", lambda p: fig.metric_figure(run, [("bpb/in_domain", "in-domain held-out", "bits per byte ↓"),
                                                       ("bpb/ood", "out-of-domain held-out", "bits per byte ↓")], p)),
        ("downstream.png", lambda p: fig.metric_figure(run, [
            ("downstream/centered", "downstream, centered average", "(acc_norm - chance) / (1 - chance) ↑"),
            ("downstream/acc_norm", "downstream, mean acc_norm", "acc_norm ↑")], p)),
        ("composition.png", lambda p: fig.composition_figure(run, p)),
        ("agreement.png", lambda p: fig.agreement_figure(run, p)),
        ("scores.png", lambda p: fig.scores_figure(run, p)),
    ) if draw(folder / name)]
    written[1:1] = figures

    blocks = build(run, tables, texts, compute, figures, written)
    atomic_write_text(folder / "report.md", to_md(blocks))
    if "html" in formats:
        atomic_write_text(folder / "report.html", to_page_html(blocks, folder))

    out = [f"# {folder.resolve().name}: held-out bits per byte (lower is better)", ""]
    for key in ("table1", "table1_ood"):
        if key in tables:
            out += [f"## {tables[key].title}", "", to_markdown(tables[key])]
    if run.failures:
        out += ["## failed cells", ""] + [f"- {md_escape(f'{x[0]} ratio {x[1]} seed {x[2]}: {x[3]}')}" for x in
                                          ((f["criterion"], f["ratio"], f["seed"], f["error"]) for f in run.failures)]
        out.append("")
    plural = "" if len(figures) == 1 else "s"
    out.append(f"Report: {folder / 'report.md'} ({len(figures)} figure{plural}; tables in {folder / 'tables'}).")
    return "\n".join(out) + "\n"


def _write_numbers(run: Run, folder: Path) -> list[str]:
    """The numbers behind the composition and agreement figures, for re-plotting elsewhere."""
    written = []
    comp = fig.composition(run)
    if comp is not None:
        frame = comp[0].sort_values(["criterion", "ratio", "source"]).rename(columns={"n": f"kept_{comp[1]}"})
        atomic_write_text(folder / "tables" / "composition.csv", frame.to_csv(index=False, lineterminator="\n"))
        written.append("tables/composition.csv")
    rho = fig.spearman(run)
    if rho is not None:
        atomic_write_text(folder / "tables" / "agreement_spearman.csv", rho.to_csv(lineterminator="\n"))
        written.append("tables/agreement_spearman.csv")
    for r in run.ratios:
        jac = fig.jaccard(run, r)
        if jac is not None:
            atomic_write_text(folder / "tables" / f"agreement_jaccard_{r:g}.csv", jac.to_csv(lineterminator="\n"))
            written.append(f"tables/agreement_jaccard_{r:g}.csv")
    return written
