"""fasttext-classifier: DCLM's quality filter (Li et al. 2024, arXiv 2406.11794), P(positive) of a fastText classifier.

DCLM trains a bigram fastText classifier on reference text (positives) against random pool text (negatives) and
keeps the documents it rates most likely positive. Here: the positives are the samples of `target`; the
negatives as many pool samples drawn at random (seeded by ctx.seed) from those not positive. Both are written,
one sample a line with newlines joined by spaces as DCLM does, to a file in a temporary directory; fastText
trains on it with the defaults of DCLM's training script (lr 0.1, dim 100, ws 5, 5 epochs, minCount 1) and
word bigrams, on one thread with the same seed, so two runs give identical scores. Score: P(positive) of every
pool sample (for DCLM's top label p, p if it is positive, else 1 - p); top-k keeps the likeliest positives.

`target`:
- SOURCE[+SOURCE...]: the pool samples of those sources ('+' joins them: ',' separates criteria);
- dev: the run's dev set (ctx.target), held-out text no model trains on and no metric reads;
- a JSON-lines file with a "text" field (a value containing '/' or ending in .jsonl); its contents are part
  of the score cache's key (`inputs`), so an edited file is read again;
- auto, the default: python-doc+debian-handbook when the pool has samples of them (the default corpus), else
  dev, so that `--criteria all` runs on any corpus.
On the default corpus python-doc+debian-handbook plays the part of DCLM's OpenHermes/ELI5 positives: edited
explanatory prose written to teach a reader, against a pool that is mostly dictionary entries (gcide,
wordnet), verse and scripture. There `dev` is only the fallback: the dev set is a hash band of the same
documents' mixture as the pool, so a dev-vs-pool classifier has only noise to learn. On the default preset's
pool, trained on half of each set, it tells the other half of the dev set from pool samples at AUC 0.54; the
python-doc+debian-handbook classifier does so for its own held-out half at 0.89. `dev` is the target to use
when the dev set is the distribution you want more of (a run whose corpus differs from its evaluation text).
The test set is never read. Training negatives come from the pool and are scored too; at 5 epochs on a few
thousand lines fastText fits loosely, so they score about like the untrained rest of their sources.
"""

import hashlib
import json
import random
import tempfile
from pathlib import Path

import numpy as np

from infoprune.criterion import Criterion, Param, register
from infoprune.errors import CriterionError
from infoprune.sources import source_names

DCLM = {"lr": 0.1, "dim": 100, "ws": 5, "epoch": 5, "minCount": 1, "wordNgrams": 2}
REFERENCE = "python-doc+debian-handbook"  # the default corpus's explanatory prose: DCLM's reference-set role


def one_line(text: str) -> str:
    return " ".join(text.strip().splitlines())  # fastText reads one example a line, as DCLM feeds it


@register
class FasttextClassifier(Criterion):
    name = "fasttext-classifier"
    version = "1"
    keeps = "the samples a bigram fastText classifier rates likeliest to be from the target set (DCLM)"
    paper = "Li et al. 2024, DataComp-LM (DCLM), arXiv 2406.11794; fastText (fasttext-wheel 0.9.2)"
    params = {
        "target": Param("auto", "positive set: SOURCE[+SOURCE...] of the pool, 'dev' (the run's dev set), a "
                        "JSON-lines file with a 'text' field, or 'auto': python-doc+debian-handbook if the pool has "
                        "them, else dev"),
    }
    seeded = True  # which pool samples are the negatives, and fastText's own seed
    uses_target = True

    def is_file(self) -> bool:
        target = self.values["target"]
        return "/" in target or target.endswith(".jsonl")

    def inputs(self) -> str | None:
        path = Path(self.values["target"])
        return hashlib.sha256(path.read_bytes()).hexdigest() if self.is_file() and path.is_file() else None

    def positives(self, samples, ctx) -> tuple[list[str], set[str]]:
        """The positive texts, and the ids of the pool samples among them (never drawn as negatives)."""
        target = self.values["target"]
        if target == "auto":
            target = REFERENCE if {s.source for s in samples} & set(REFERENCE.split("+")) else "dev"
        if target == "dev":
            texts = [s.text for s in ctx.target]
            if not texts:
                raise CriterionError(f"{self.name}: target=dev, but this run's dev set is empty; name pool "
                                     "sources (SOURCE+SOURCE) or a JSON-lines file instead")
            return texts, set()
        if self.is_file():
            path = Path(target)
            if not path.is_file():
                raise CriterionError(f"{self.name}: target file {target} does not exist")
            try:
                texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
                         if line.strip()]
            except (ValueError, KeyError, TypeError):
                raise CriterionError(f"{self.name}: {target} is not JSON lines with a 'text' field") from None
            if not texts:
                raise CriterionError(f"{self.name}: target file {target} has no texts")
            return texts, set()
        names = {n.strip() for n in target.split("+")}
        known = {s.source for s in samples}
        # A default-corpus source that this pool happens to lack (a small preset's) is no error; a typo is.
        unknown = names - known - set(source_names())
        if unknown or not names & known:
            what = f"unknown target source {', '.join(sorted(unknown))}" if unknown else \
                f"no pool sample comes from {', '.join(sorted(names))}"
            raise CriterionError(f"{self.name}: {what}; valid: dev, a .jsonl file, or sources joined by '+': "
                                 f"{', '.join(sorted(known))}")
        chosen = [s for s in samples if s.source in names]
        return [s.text for s in chosen], {s.id for s in chosen}

    def score(self, samples, ctx):
        try:
            import fasttext
        except ImportError:
            raise CriterionError(f"{self.name} needs fastText, which is not installed: pip install "
                                 "fasttext-wheel==0.9.2 (it is in the default install: pip install -e .)") from None
        positives, pos_ids = self.positives(samples, ctx)
        seed = ctx.seed
        rng = random.Random(seed)
        # Sorted by id before drawing, so the draw never depends on the pool's order.
        rest = sorted((s for s in samples if s.id not in pos_ids), key=lambda s: s.id)
        if not rest:
            raise CriterionError(f"{self.name}: every pool sample is in the positive set; there are no negatives")
        negatives = rng.sample(rest, min(len(positives), len(rest)))
        lines = [f"__label__pos {one_line(t)}" for t in positives] + [f"__label__neg {one_line(s.text)}"
                                                                       for s in negatives]
        lines.sort()  # then shuffled by the seed alone: neither the pool's nor the target's order plays a part
        rng.shuffle(lines)
        with tempfile.TemporaryDirectory(prefix="infoprune-fasttext-") as tmp:
            path = Path(tmp) / "train.txt"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            model = fasttext.train_supervised(input=str(path), **DCLM, thread=1, seed=seed % 2**31, verbose=0)
        # model.f.predict: fastText's own call; the Python wrapper's predict breaks under numpy 2 (copy=False).
        scores = []
        for s in samples:
            (p, label), = model.f.predict(one_line(s.text) + "\n", 1, 0.0, "replace")
            scores.append(p if label == "__label__pos" else 1.0 - p)
        return np.clip(np.array(scores, dtype=np.float64), 0.0, 1.0)  # fastText adds 1e-5 before its log
