"""gopher-quality: MassiveText's quality rules (Rae et al. 2021, Gopher) as datatrove's GopherQualityFilter runs them.

Score: the number of the filter's 9 rules a sample passes, every rule evaluated (infoprune/rulesets.py). A rule
is one threshold of the datatrove class, at datatrove's default: at least 50 and at most 100,000 words; mean
word length at least 3 and at most 10 characters; '#' and ellipses each at most 0.1 per word; at most 90% of
lines starting with a bullet; at most 30% ending with an ellipsis; at least 80% of words with a letter; at
least 2 of the stop words the, be, to, of, and, that, have, with. A sample scoring 9 (pass_mark) passes the
filter as datatrove runs it; ties are broken by sample id (select.py).

The rules were written for whole web pages; here each 128-token chunk is judged as if it were a page. A
chunk holds about 80-100 words, so the last, short chunk of a document can fail the 50-word minimum, the
100,000-word maximum never fires, and the line-shaped rules (bullets, ellipsis endings) see only the chunk's
own lines.
"""

from infoprune.criterion import register
from infoprune.rulesets import RuleSetCriterion, defaults

RULES = ("min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length", "max_symbol_word_ratio",
         "max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "max_non_alpha_words_ratio", "min_stop_words")


@register
class GopherQuality(RuleSetCriterion):
    name = "gopher-quality"
    version = "1"
    keeps = "the samples that pass the most of Gopher's 9 quality rules (datatrove GopherQualityFilter)"
    paper = "Rae et al. 2021, Gopher/MassiveText quality filter; datatrove 0.10.1 GopherQualityFilter"
    filter_class = "GopherQualityFilter"
    pass_mark = float(len(RULES))

    def switches(self, cls):
        on = defaults(cls)
        # A threshold of None switches its rule off (datatrove tests `if self.<threshold> and ...`).
        return {r: None for r in RULES}, {r: {r: on[r]} for r in RULES}
