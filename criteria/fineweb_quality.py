"""fineweb-quality: FineWeb's own quality rules (Penedo et al. 2024) as datatrove's FineWebQualityFilter runs them.

Score: the number of the filter's 4 rules a sample passes, every rule evaluated (infoprune/rulesets.py), at
datatrove's default thresholds: at least 12% of non-empty lines end in terminal punctuation; at most 67% of
lines are 30 characters or shorter; characters in duplicated lines at most 1% of the text; newlines at most
0.3 per word. A sample scoring 4 (pass_mark) passes the filter as datatrove runs it; a sample with no non-empty
line fails all four. Ties are broken by sample id (select.py).

The rules were written for whole web pages; here each 128-token chunk is judged as if it were a page: the
line rules see only the chunk's lines, and a line cut by the chunk boundary ends without punctuation.
"""

import math

from infoprune.criterion import register
from infoprune.rulesets import RuleSetCriterion, defaults

# Each rule's threshold, and the value that can never trip it (the class has no None switch).
RULES = {"line_punct_thr": -math.inf, "short_line_thr": math.inf, "char_duplicates_ratio": math.inf,
         "new_line_ratio": math.inf}


@register
class FinewebQuality(RuleSetCriterion):
    name = "fineweb-quality"
    version = "1"
    keeps = "the samples that pass the most of FineWeb's 4 quality rules (datatrove FineWebQualityFilter)"
    paper = "Penedo et al. 2024, FineWeb quality filter; datatrove 0.10.1 FineWebQualityFilter"
    filter_class = "FineWebQualityFilter"
    pass_mark = float(len(RULES))

    def switches(self, cls):
        on = defaults(cls)
        return RULES, {r: {r: on[r]} for r in RULES}
