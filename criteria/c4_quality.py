"""c4-quality: C4's cleaning rules (Raffel et al. 2020) as datatrove's C4QualityFilter runs them.

C4 judges a page by three page rules (no "lorem ipsum", no curly bracket, at least 5 sentences) among the
lines its line rules keep (lines ending in terminal punctuation and not in an ellipsis, of at least 3 words,
with no word over 1,000 characters, not mentioning javascript or a cookie or terms-of-use phrase); datatrove
drops the page if a page rule fails and otherwise keeps its kept lines. Score: the number of page rules passed,
every rule evaluated (infoprune/rulesets.py), plus half the share of the sample's lines that the line rules
keep (datatrove's own line-total and line-kept statistics). The line share orders samples that pass the same
page rules, and weighs half a rule at most, so a sample scores 3 (pass_mark) or more exactly when the filter
as datatrove runs it keeps it (a kept page has kept lines: its 5 sentences are in them).

The rules were written for whole web pages; here each 128-token chunk is judged as if it were a page: 5
sentences is a high bar for about 90 words, hard-wrapped prose (lines cut at ~70 characters, as in the
Gutenberg-style texts of the default corpus) loses most lines to the terminal-punctuation rule, and the last
line of a chunk is usually cut mid-sentence.
"""

import numpy as np

from infoprune.criterion import register
from infoprune.rulesets import RuleSetCriterion, datatrove_filters, verdict

OFF = {"filter_lorem_ipsum": False, "filter_curly_bracket": False, "min_num_sentences": -1}  # page rules off
RULES = {"lorem_ipsum": {"filter_lorem_ipsum": True}, "curly_bracket": {"filter_curly_bracket": True},
         "too_few_sentences": {"min_num_sentences": 5}}


@register
class C4Quality(RuleSetCriterion):
    name = "c4-quality"
    version = "1"
    keeps = "the samples passing most of C4's 3 page rules, then most lines kept (datatrove C4QualityFilter)"
    paper = "Raffel et al. 2020, C4 (T5) cleaning rules; datatrove 0.10.1 C4QualityFilter"
    filter_class = "C4QualityFilter"
    pass_mark = float(len(RULES))

    def switches(self, cls):
        return OFF, RULES

    def score(self, samples, ctx):
        texts = [s.text for s in samples]
        # With every page rule off, the filter only sorts lines, counting them in its stats as it goes.
        lines = datatrove_filters(self.name).C4QualityFilter(**OFF)
        share = []
        for t in texts:
            total, kept = lines.stats["line-total"].total, lines.stats["line-kept"].total
            verdict(lines, t)
            seen = lines.stats["line-total"].total - total
            share.append((lines.stats["line-kept"].total - kept) / seen if seen else 0.0)
        return super().score(samples, ctx) + 0.5 * np.array(share)
