"""Heuristic rule sets run through datatrove's own filter classes, scored by how many rules a sample passes.

A datatrove filter (GopherQualityFilter, C4QualityFilter, ...) answers pass or fail and stops at the first rule
that fails, which prunes at one ratio only. To rank, every rule is evaluated: the class is built once as its
authors run it (`whole`, datatrove's defaults) and once per rule with every other rule switched off (`singles`,
the rule's threshold left at datatrove's default). A sample that the whole filter keeps passes every rule; a
sample it drops is put to each single-rule filter. A rule whose filter cannot run on a sample counts as failed:
datatrove divides by the number of words or lines and averages word lengths on its way to most rules, so a
chunk with no words (a document's last chunk can be a lone '.') fails nearly all of them.

The rules themselves are datatrove's code, never re-implemented here; only the switches are named. English
words and sentences are split as datatrove splits them: with a blank spaCy pipeline (no model download).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Sequence

import numpy as np

from .criterion import Criterion
from .errors import CriterionError


def datatrove_filters(criterion: str):
    """datatrove's filter module, or one line saying what to install."""
    try:
        import spacy  # noqa: F401  (datatrove needs it to split English, but imports it only when it splits)
        from datatrove.pipeline import filters
    except ImportError as e:
        raise CriterionError(f"{criterion} runs datatrove's filters, but {e.name} is not installed: pip install "
                             "datatrove==0.10.1 spacy==3.8.18 (both are in the default install: pip install -e .)"
                             ) from None
    return filters


def defaults(cls) -> dict[str, Any]:
    """The keyword defaults of a datatrove filter class: the thresholds its authors chose."""
    return {k: p.default for k, p in inspect.signature(cls).parameters.items() if p.default is not p.empty}


def verdict(filt, text: str) -> bool:
    """Whether datatrove's `filt.filter` keeps `text` (a fresh Document each call: C4 rewrites doc.text)."""
    from datatrove.data import Document

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # numpy's mean of no word lengths warns, returning NaN
            result = filt.filter(Document(text=text, id=""))
    except (ZeroDivisionError, RuntimeWarning):  # a ratio or a mean over no words or lines: the rule fails
        return False
    return bool(result[0] if isinstance(result, tuple) else result)


class RuleSet:
    """datatrove filter class `cls` as a set of rules: `off` switches every rule off, `rules[name]` one back on."""

    def __init__(self, cls, off: dict[str, Any], rules: dict[str, dict[str, Any]]) -> None:
        self.whole = cls()
        self.singles = {name: cls(**(off | on)) for name, on in rules.items()}

    def passed(self, texts: Sequence[str]) -> np.ndarray:
        """The number of rules each text passes: all of them exactly when the whole filter keeps it."""
        n = len(self.singles)
        # datatrove memoises its last few word splits by text, so the single rules re-split nothing. A text the
        # whole filter drops scores below n even if every single rule somehow kept it: pass_mark stays exact.
        scores = [n if verdict(self.whole, t) else min(n - 1, sum(verdict(f, t) for f in self.singles.values()))
                  for t in texts]
        return np.array(scores, dtype=np.float64)


class RuleSetCriterion(Criterion):
    """A criterion that is one of datatrove's rule sets, scored by the number of its rules a sample passes.

    A subclass names the datatrove class (`filter_class`) and says how to switch its rules (`switches`).
    """

    filter_class = ""
    per_sample = True

    def switches(self, cls) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """(the keywords that switch every rule off, {rule: the keywords that switch it back on})."""
        raise NotImplementedError

    def ruleset(self) -> RuleSet:
        cls = getattr(datatrove_filters(self.name), self.filter_class)
        return RuleSet(cls, *self.switches(cls))

    def score(self, samples, ctx):
        return self.ruleset().passed([s.text for s in samples])
