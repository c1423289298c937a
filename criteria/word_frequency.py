"""word-frequency: a sample's mean word surprisal under the pool's own unigram distribution, H(W,f).

Kim & Baek v3 (arXiv 2406.14124 v3, "... based on Information Entropy") score x by the mean over its words
of -log2 f(w), f the relative frequency of w among all words of the pool being scored. Model-free: it
keeps the samples made of rare words and prunes those made of the commonest ones first.
"""

from infoprune.criterion import Criterion, register
from infoprune.words import word_bits


@register
class WordFrequency(Criterion):
    name = "word-frequency"
    version = "1"
    keeps = "the samples whose words are rarest in the pool (highest mean -log2 word frequency)"
    paper = "Kim & Baek 2024, arXiv 2406.14124 v3 (H(W,f))"

    def score(self, samples, ctx):
        return word_bits(samples)[0]
