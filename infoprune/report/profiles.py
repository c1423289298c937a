"""What each criterion is made of: how much of it is sample length, which other criterion it duplicates, what a
rule set would remove as a plain filter, and what each term of a summed score contributes.

A criterion that keeps nearly the same samples as another (Jaccard of the kept sets at least TWIN_JACCARD), or
orders the pool nearly the same way (|Spearman| at least TWIN_RHO), is not independent evidence in Table 1;
one whose score tracks length tests length, whatever its name says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .figures import jaccard, spearman
from .render import Cell, Table
from .rundata import Run
from .tables import pct

TWIN_JACCARD = 0.9
TWIN_RHO = 0.9
LENGTH = "n_bytes"  # sample length in UTF-8 bytes: it varies even among chunks of one token count


def twins(run: Run) -> dict[tuple[str, str], str]:
    """Each unordered pair of criteria that nearly duplicate each other, with what they share in words."""
    kept: dict[tuple[str, str], list[str]] = {}
    for r in run.ratios:
        jac = jaccard(run, r)
        if jac is None:
            continue
        names = list(jac.index)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if jac.loc[a, b] >= TWIN_JACCARD:
                    kept.setdefault((a, b), []).append(f"{jac.loc[a, b]:.0%} at {pct(r)}")
    ordered: dict[tuple[str, str], float] = {}
    rho = spearman(run)
    if rho is not None:
        names = list(rho.index)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                v = rho.loc[a, b]
                # variants of one criterion share its scores: their |rho| is 1 by construction
                if np.isfinite(v) and abs(v) >= TWIN_RHO and a.split(":")[0] != b.split(":")[0]:
                    ordered[(a, b)] = float(v)
    out = {}
    for pair in sorted(set(kept) | set(ordered)):
        said = [f"keep the same samples ({', '.join(kept[pair])})"] if pair in kept else []
        said += [f"order the pool alike (Spearman {ordered[pair]:+.2f})"] if pair in ordered else []
        out[pair] = " and ".join(said)
    return out


def profile_table(run: Run) -> Table | None:
    """Per criterion: Spearman with length, the mean length of each kept set, the plain filter's cut, twins."""
    pool = run.pool
    if pool is None or LENGTH not in pool:
        return None
    length = pool[LENGTH].to_numpy(dtype=float)
    rho_len = {}
    if run.scores is not None:
        for c in run.score_columns:
            s = run.scores[c].astype(float)
            rho_len[c] = float(s.corr(pd.Series(length), method="spearman"))
    near = twins(run)
    ratios = run.ratios
    columns = ([("", "criterion"), ("", "Spearman with length")] + [("mean bytes kept", pct(r)) for r in ratios]
               + [("", "as a plain filter"), ("", "near-duplicate of")])
    rows, records = [], []
    for c in run.criteria:
        kept = []
        for r in ratios:
            m = run.mask(c, r)
            kept.append(float(length[m].mean()) if m is not None and m.any() else float("nan"))
        cut = filter_share(run, c)
        mates = [b if a == c else a for a, b in near if c in (a, b)]
        rows.append([Cell(c), Cell(f"{rho_len[c]:+.2f}" if c in rho_len else "—")]
                    + [Cell(f"{k:.0f}" if np.isfinite(k) else "—") for k in kept]
                    + [Cell(f"removes {cut:.1%}" if cut is not None else "—"), Cell(", ".join(mates) or "none")])
        records.append({"criterion": c, "spearman_length": rho_len.get(c, float("nan")),
                        **{f"mean_bytes_kept@{pct(r)}": k for r, k in zip(ratios, kept)},
                        "plain_filter_removes": cut, "near_duplicate_of": ";".join(mates)})
    notes = [f"Length: a sample's UTF-8 bytes; the pool's mean is {length.mean():.0f}. Kept sets: the first seed's.",
             "as a plain filter: the share of the pool a rule set removes when run as its authors run it (every "
             "sample below its pass mark), whatever the ratio.",
             f"near-duplicate of: kept sets with Jaccard at least {TWIN_JACCARD}, or scores with |Spearman| at least "
             f"{TWIN_RHO} (variants of one criterion are left out of the latter: they share their scores)."]
    return Table("profiles", "Table 6: what each criterion is made of", columns, rows,
                 "ll" + "r" * len(ratios) + "lp", notes=notes, data=pd.DataFrame(records))


def filter_share(run: Run, criterion: str) -> float | None:
    mark = run.criterion_info(criterion).get("pass_mark")
    if mark is None or run.scores is None or criterion not in run.scores:
        return None
    s = run.scores[criterion].to_numpy(dtype=float)
    return float(np.mean(s[np.isfinite(s)] < mark))


def length_text(run: Run, table: Table | None) -> str:
    """The profile table in words: which criteria are mostly length, and which pairs duplicate each other."""
    if table is None or table.data.empty:
        return ""
    d = table.data
    strong = d[d.spearman_length.abs() >= TWIN_RHO]
    parts = []
    if len(strong):
        parts.append(f"Mostly sample length (|Spearman| with bytes at least {TWIN_RHO}): " + ", ".join(
            f"`{c}` ({v:+.2f})" for c, v in zip(strong.criterion, strong.spearman_length)) + ".")
    for (a, b), text in twins(run).items():
        parts.append(f"`{a}` and `{b}` {text}: not independent evidence.")
    return " ".join(parts) or "No criterion is mostly length, and no two duplicate each other."


def terms_table(run: Run) -> Table | None:
    """For criteria whose score is a sum of terms (terms.parquet): each term's share of the score's variance,
    cov(term, score) / var(score), which add up to 1, and its Pearson and Spearman correlations with the score."""
    terms = run.terms
    if terms is None:
        return None
    rows, records = [], []
    for col in (c for c in terms.columns if c != "id"):
        crit, _, term = col.partition("/")
        total = terms[[c for c in terms.columns if c.startswith(crit + "/")]].astype(float).sum(axis=1)
        t = terms[col].astype(float)
        share = float(np.cov(t, total)[0, 1] / np.var(total, ddof=1)) if np.var(total) > 0 else float("nan")
        corr, rank = float(t.corr(total)), float(t.corr(total, method="spearman"))
        rows.append([Cell(crit), Cell(term), Cell(f"{share:.0%}"), Cell(f"{corr:+.2f}"), Cell(f"{rank:+.2f}")])
        records.append({"criterion": crit, "term": term, "variance_share": share, "pearson_with_score": corr,
                        "spearman_with_score": rank})
    if not rows:
        return None
    notes = ["variance share: cov(term, score) / var(score) over the pool; the shares of one score add up to 1 (two "
             "standardised terms share it equally, whatever they are). Spearman with score: how far the term alone "
             "orders the pool as the score does; selection uses only that order, so a term near 1 decides the kept "
             "set."]
    return Table("terms", "Table 7: what each term of a summed score contributes", [("", "criterion"), ("", "term"),
                 ("", "variance share"), ("", "Pearson with score"), ("", "Spearman with score")], rows, "llrrr",
                 notes=notes, data=pd.DataFrame(records))
