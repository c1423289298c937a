"""The pool as a table and a kept set as JSON lines: the one layout that `bench score`, `bench prune`,
`bench prune-corpus` and the run folder's pool.parquet share."""

from __future__ import annotations

import json
from typing import Sequence

import pandas as pd

from .samples import Sample

INFO = ["id", "source", "n_tokens", "n_bytes"]  # then the text (or an excerpt), then one column per criterion


def info_frame(samples: Sequence[Sample]) -> pd.DataFrame:
    return pd.DataFrame({"id": [s.id for s in samples], "source": [s.source for s in samples],
                         "n_tokens": [len(s.tokens) for s in samples], "n_bytes": [s.n_bytes for s in samples]})


def kept_line(sample_id: str, source: str, text: str) -> str:
    """One line of kept.jsonl: what `--corpus jsonl:` reads back."""
    return json.dumps({"id": sample_id, "source": source, "text": text}) + "\n"
