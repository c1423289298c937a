"""gopher-repetition: MassiveText's repetition rules (Rae et al. 2021, Gopher, Table A1) as datatrove runs them.

Score: the number of the 13 rules of datatrove's GopherRepetitionFilter a sample passes, every rule evaluated
(infoprune/rulesets.py), at datatrove's default thresholds: duplicate lines at most 30% of lines and 20% of
characters; duplicate paragraphs at most 30% of paragraphs and 20% of characters; the most frequent 2-, 3- and
4-gram covering at most 20%, 18% and 16% of characters; duplicated 5- to 10-grams covering at most 15%, 14%,
13%, 12%, 11% and 10% of characters. A sample scoring 13 (pass_mark) passes the filter as datatrove runs it;
ties are broken by sample id (select.py).

The rules were written for whole web pages; here each 128-token chunk is judged as if it were a page, so they
catch repetition inside a chunk only. Copies spread over separate chunks (two copies of one document) pass
every rule: that is deduplication's work, not this filter's. datatrove counts the most frequent n-gram even
when it occurs once, so a short sample (a dictionary entry of a line or two) fails the top-n-gram rules
without repeating anything: one 4-gram of 21 characters in a 60-character text is over 16%.
"""

from infoprune.criterion import register
from infoprune.rulesets import RuleSetCriterion, defaults

FRACTIONS = ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac")


@register
class GopherRepetition(RuleSetCriterion):
    name = "gopher-repetition"
    version = "1"
    keeps = "the samples that pass the most of Gopher's 13 repetition rules (datatrove GopherRepetitionFilter)"
    paper = "Rae et al. 2021, Gopher/MassiveText repetition filter; datatrove 0.10.1 GopherRepetitionFilter"
    filter_class = "GopherRepetitionFilter"
    pass_mark = 13.0

    def switches(self, cls):
        on = defaults(cls)
        # Each (n, threshold) pair of the two n-gram lists is one rule; None and () switch rules off.
        off = {f: None for f in FRACTIONS} | {"top_n_grams": (), "dup_n_grams": ()}
        rules = {f: {f: on[f]} for f in FRACTIONS}
        rules |= {f"top_{n}_gram": {"top_n_grams": ((n, t),)} for n, t in on["top_n_grams"]}
        rules |= {f"duplicated_{n}_n_grams": {"dup_n_grams": ((n, t),)} for n, t in on["dup_n_grams"]}
        return off, rules
