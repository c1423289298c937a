"""One table model, four renderings: Markdown, LaTeX (booktabs, ready to paste), HTML, and CSV.

A table is built once from the run (tables.py, compute.py) as structured cells, so the bold, the
significance marks and the failure daggers look the same in every format, and each renderer only
escapes and typesets. The CSV is not the formatted cells but the numbers behind them (`Table.data`),
so that a reader can re-plot or re-test without parsing "2.9402 ± 0.0123*".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Cell:
    value: str = ""  # a formatted number, or a word such as "failed"
    std: str = ""  # the spread, shown as "± std"
    mark: str = ""  # significance against the baseline: "*" or "**"
    dagger: bool = False  # some seeds of this cell failed
    bold: bool = False  # best of its column


@dataclass
class Table:
    name: str  # file stem under tables/
    title: str  # the caption
    columns: list[tuple[str, str]]  # (group, sub-header); a group spans its consecutive columns
    rows: list[list[Cell]]
    align: str  # one letter per column: l, r, or p (a wrapped text column)
    notes: list[str] = field(default_factory=list)  # plain text, escaped by each renderer
    breaks: list[int] = field(default_factory=list)  # row indices that start a new block (a rule above)
    data: pd.DataFrame = field(default_factory=pd.DataFrame)  # the numbers, for the CSV


# -- Markdown ---------------------------------------------------------------------------------------
MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def md_escape(text: str) -> str:
    return MD_SPECIAL.sub(r"\\\1", text)


def _md_cell(c: Cell) -> str:
    text = md_escape(c.value)
    if c.bold and text:
        text = f"**{text}**"
    if c.std:
        text += f" ± {md_escape(c.std)}"
    if c.mark:
        text += md_escape(c.mark)
    if c.dagger:
        text += " †"
    return text


def md_header(group: str, sub: str) -> str:
    """One header line for Markdown: "bpb ↓ @0.25" under a ratio, else the column's own name."""
    if group and sub:
        return f"{group} @{sub}" if is_number(sub) else sub
    return group or sub


def is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def to_markdown(t: Table, notes: bool = True) -> str:
    lines = ["| " + " | ".join(md_escape(md_header(g, s)) for g, s in t.columns) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in t.align) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    if notes and t.notes:
        lines += ["", " ".join(md_escape(n) for n in t.notes)]
    return "\n".join(lines) + "\n"


# -- LaTeX ------------------------------------------------------------------------------------------
TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
               "±": r"$\pm$", "↓": r"$\downarrow$", "↑": r"$\uparrow$", "Δ": r"$\Delta$", "×": r"$\times$",
               "†": r"$^\dagger$", "—": "---", "–": "--", "≈": r"$\approx$", "<": r"$<$", ">": r"$>$",
               "·": r"$\cdot$", "…": r"\ldots{}", "−": "$-$", "≥": r"$\geq$", "÷": r"$\div$", "ρ": r"$\rho$", "τ": r"$\tau$",
               "|": r"\textbar{}"}
TEX_SPECIAL = re.compile("|".join(map(re.escape, TEX_ESCAPES)))
SIGNED = re.compile(r"^([+-])(?=\d)")
CAPTION_NUMBER = re.compile(r"^Table \w+: ")


def tex_escape(text: str) -> str:
    return TEX_SPECIAL.sub(lambda m: TEX_ESCAPES[m.group(0)], text)


def _tex_cell(c: Cell) -> str:
    # a leading sign is typeset as math, so that +0.01 and -0.01 line up and read as numbers
    text = SIGNED.sub(lambda m: f"${m.group(1)}$", tex_escape(c.value))
    if c.bold and text:
        text = rf"\textbf{{{text}}}"
    if c.std:
        text += rf" {{\scriptsize $\pm$ {tex_escape(c.std)}}}"
    if c.mark:
        text += f"$^{{{c.mark}}}$"
    if c.dagger:
        text += r"$^\dagger$"
    return text


def to_latex(t: Table) -> str:
    spec = "".join({"p": r"p{0.45\linewidth}"}.get(a, a) for a in t.align)
    out = ["% " + t.title.replace("\n", " "), r"% needs \usepackage{booktabs}",
           r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    groups = _spans([g for g, _ in t.columns])
    if any(g for g, _, _ in groups):
        heads, rules = [], []
        for g, start, n in groups:
            heads.append(rf"\multicolumn{{{n}}}{{c}}{{{tex_escape(g)}}}" if g and n > 1 else tex_escape(g))
            if g:
                rules.append(rf"\cmidrule(lr){{{start + 1}-{start + n}}}")
        out += [" & ".join(heads) + r" \\", " ".join(rules)]
    out.append(" & ".join(tex_escape(s) for _, s in t.columns) + r" \\")
    out.append(r"\midrule")
    for i, row in enumerate(t.rows):
        if i in t.breaks and i > 0:
            out.append(r"\midrule")
        out.append(" & ".join(_tex_cell(c) for c in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    caption = CAPTION_NUMBER.sub("", t.title)  # LaTeX numbers its tables itself
    caption = tex_escape(caption[:1].upper() + caption[1:]) + "."
    if t.notes:
        caption += " " + " ".join(tex_escape(n) for n in t.notes)
    out += [rf"\caption{{{caption}}}", rf"\label{{tab:{t.name.replace('_', '-')}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def _spans(groups: list[str]) -> list[tuple[str, int, int]]:
    """Runs of equal consecutive group labels: (label, first column, length)."""
    spans: list[tuple[str, int, int]] = []
    for i, g in enumerate(groups):
        if spans and spans[-1][0] == g and g:
            label, start, n = spans[-1]
            spans[-1] = (label, start, n + 1)
        else:
            spans.append((g, i, 1))
    return spans


# -- HTML -------------------------------------------------------------------------------------------
def _html_cell(c: Cell) -> str:
    text = html.escape(c.value)
    if c.bold and text:
        text = f"<b>{text}</b>"
    if c.std:
        text += f" <small>± {html.escape(c.std)}</small>"
    if c.mark:
        text += f"<sup>{html.escape(c.mark)}</sup>"
    if c.dagger:
        text += "<sup>†</sup>"
    return text


def to_html(t: Table) -> str:
    style = {"r": ' style="text-align:right"', "l": "", "p": ' style="max-width:40em"'}
    out = ["<table>", "<thead>"]
    groups = _spans([g for g, _ in t.columns])
    if any(g for g, _, _ in groups):
        out.append("<tr>" + "".join(f'<th colspan="{n}">{html.escape(g)}</th>' for g, _, n in groups) + "</tr>")
    out.append("<tr>" + "".join(f"<th>{html.escape(s)}</th>" for _, s in t.columns) + "</tr>")
    out += ["</thead>", "<tbody>"]
    for i, row in enumerate(t.rows):
        cls = ' class="block"' if i in t.breaks and i > 0 else ""
        out.append(f"<tr{cls}>" + "".join(f"<td{style[a]}>{_html_cell(c)}</td>" for a, c in zip(t.align, row))
                   + "</tr>")
    out += ["</tbody>", "</table>"]
    out += [f"<p class=\"note\">{html.escape(n)}</p>" for n in t.notes]
    return "\n".join(out) + "\n"


# -- CSV --------------------------------------------------------------------------------------------
def to_csv(t: Table) -> str:
    # repr-exact floats, a fixed line ending: the same numbers give the same bytes on every re-run
    return t.data.to_csv(index=False, lineterminator="\n")
