"""Planted-junk diagnostic: which known junk does each criterion prune, at each ratio?

Copies of pool samples (exact duplicates), one boilerplate footer repeated with small variations, and
random-character gibberish are added to a copy of the pool; each criterion scores the whole lot, and the
share of each kind that selection prunes is reported next to the share of clean samples pruned. This is
where blind spots show: a description-length score, for one, keeps gibberish.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pandas as pd

from .config import CriterionSpec, Seeds
from .documents import Document
from .pipeline import Pipeline
from .samples import Sample, chunk
from .select import select
from . import criterion as registry

KINDS = ("duplicate", "boilerplate", "gibberish")
BOILERPLATE = (
    "Copyright {n} Example Media Group. All rights reserved. Terms of use | Privacy policy | Cookie settings | "
    "Contact us | Sitemap. Subscribe to our newsletter for the latest updates. Page {n} of 250."
)
GIBBERISH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-_/#@"


def plant_junk(pipe: Pipeline, fraction: float, seed: int) -> list[Sample]:
    """About `fraction` of the pool, in equal parts of each kind, with ids `junk/KIND/NNNN#0`."""
    pool = pipe.samples["pool"]
    rng = random.Random(Seeds.of(seed).diagnose)
    n = max(5, round(fraction * len(pool) / len(KINDS)))
    dups = [replace(s, id=f"junk/duplicate/{i:04d}#0", source="junk:duplicate")
            for i, s in enumerate(rng.sample(pool, min(n, len(pool))))]
    docs = [Document(f"junk/boilerplate/{i:04d}", "junk:boilerplate", BOILERPLATE.format(n=2000 + i))
            for i in range(n)]
    mean_chars = sum(len(s.text) for s in pool) // max(1, len(pool))
    docs += [Document(f"junk/gibberish/{i:04d}", "junk:gibberish",
                      "".join(rng.choice(GIBBERISH_CHARS) for _ in range(max(20, mean_chars // 2))))
             for i in range(n)]
    planted = [s for s in chunk(docs, pipe.tokenizer, pipe.cfg.model.seq_len) if s.id.endswith("#0")]
    return dups + planted


def kind_of(sample_id: str) -> str:
    return sample_id.split("/")[1] if sample_id.startswith("junk/") else "clean"


def diagnose(pipe: Pipeline, specs: tuple[CriterionSpec, ...], ratios: tuple[float, ...],
             fraction: float = 0.06, seed: int = 0) -> pd.DataFrame:
    """One row per (criterion, ratio, kind): the share of that kind pruned."""
    pool = pipe.samples["pool"] + plant_junk(pipe, fraction, seed)
    ids = [s.id for s in pool]
    kinds = pd.Series([kind_of(i) for i in ids])
    rows = []
    for spec in specs:
        scores = pipe.scores(spec, seed, pool)
        mode = registry.build(spec).keep
        for ratio in ratios:
            kept = set(select(ids, scores, ratio, mode, Seeds.of(seed).selection))
            pruned = pd.Series([i not in kept for i in ids])
            for kind in ("clean", *KINDS):
                rows.append({"criterion": spec.label, "ratio": ratio, "kind": kind,
                             "pruned_share": float(pruned[kinds == kind].mean())})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    """Criteria as rows, (kind, ratio) as columns: the share of each kind pruned."""
    wide = frame.pivot_table(index="criterion", columns=["kind", "ratio"], values="pruned_share", sort=False)
    kinds = [k for k in ("clean", *KINDS) if k in wide.columns.get_level_values(0)]
    ratios = sorted(frame.ratio.unique())
    head = "| criterion | " + " | ".join(f"{k} @{r:g}" for k in kinds for r in ratios) + " |"
    lines = [head, "|---|" + "---:|" * (len(kinds) * len(ratios))]
    for crit, row in wide.iterrows():
        lines.append(f"| {crit} | " + " | ".join(f"{row[(k, r)]:.0%}" for k in kinds for r in ratios) + " |")
    return "\n".join(lines)
