"""The one module that talks to lm-evaluation-harness (pinned 0.4.13): downstream accuracy and rolling bits/byte.

An in-memory transformers model is wrapped in `SuiteLM`, an lm-eval `LM` that scores requests in batches.
Local tasks are read from the YAML + JSONL that `infoprune.tasks` writes; hub tasks are looked up by name
only when asked for.
The pitfalls handled here (see ../shared/notes/offline.md): `simple_evaluate` re-seeds Python, NumPy and torch
globally unless its seeds are None; its response cache ignores the model, so it is never used; bootstrap
resampling is slow, and accuracy's stderr has a closed form, so bootstrap_iters stays small.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from pathlib import Path
from typing import Callable, Sequence

import torch
from lm_eval.api.model import LM
from tokenizers import Tokenizer

from .errors import UserError
from .hub import hub_reachable
from .registry import did_you_mean
from .model import autocast, lm_precision
from .tasks import LOCAL, N_CHOICES, local_names
from .tokenizer import EOS


class SuiteLM(LM):
    """lm-eval's view of an in-memory causal LM: log-likelihoods from one batched pass per length-sorted batch.

    Requests are encoded as lm-eval's own HFLM encodes them (the context's trailing spaces move to the
    continuation; the pair is encoded whole, then split), with `prefix_id` in front as in training. Only
    the continuation's positions go through the LM head, which is most of a small model's cost.
    """

    def __init__(self, model, encode: Callable[[list[str]], list[list[int]]], prefix_id: int, max_length: int,
                 batch_tokens: int = 8192, device: str = "cpu", precision: str = "auto") -> None:
        super().__init__()
        self.model, self.encode, self.prefix_id = model.to(device), encode, prefix_id  # a cached model loads on CPU
        self.max_length, self.batch_tokens, self.on = max_length, batch_tokens, device
        self.precision = lm_precision(device, precision)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        pairs = []
        for context, continuation in (r.args for r in requests):
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces:
                context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
            pairs.append((context, continuation))
        wholes = self.encode([c + x for c, x in pairs])
        contexts = self.encode([c for c, _ in pairs if c])
        seqs, i = [], 0
        for (context, _), whole in zip(pairs, wholes):
            n_ctx = len(contexts[i]) if context else 0
            i += bool(context)
            seqs.append(([self.prefix_id] + whole[:n_ctx], whole[n_ctx:]))
        return self._score(seqs)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        docs = self.encode([r.args[0] for r in requests])
        windows, owner = [], []
        for d, tokens in enumerate(docs):
            for w in get_rolling_token_windows(tokens, self.prefix_id, self.max_length, 1):
                windows.append(make_disjoint_window(w))
                owner.append(d)
        totals = [0.0] * len(docs)
        for d, (logprob, _) in zip(owner, self._score(windows)):
            totals[d] += logprob
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False):
        raise UserError("generation tasks are not supported: the suite's tasks are multiple choice or perplexity")

    @torch.inference_mode()
    def _score(self, seqs: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """(sum of log p, all greedy) of each continuation given its context, cut from the left to fit."""
        self.model.eval()
        full = [(ctx + cont)[-(self.max_length + 1):] for ctx, cont in seqs]
        n_cont = [min(len(cont), len(f) - 1) for (_, cont), f in zip(seqs, full)]
        out: list[tuple[float, bool]] = [(0.0, True)] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(full[i]))
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and (end - start + 1) * len(full[order[end]]) <= self.batch_tokens:
                end += 1
            batch = order[start:end]
            width = len(full[batch[-1]]) - 1
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            rows, cols, targets = [], [], []
            for r, i in enumerate(batch):
                seq = full[i]
                ids[r, : len(seq) - 1] = torch.tensor(seq[:-1])
                span = range(len(seq) - 1 - n_cont[i], len(seq) - 1)
                rows += [r] * len(span)
                cols += list(span)
                targets += seq[len(seq) - n_cont[i]:]
            # Right padding is harmless to a causal model, so no attention mask is needed.
            with autocast(self.on, self.precision):
                hidden = self.model.model(input_ids=ids.to(self.on)).last_hidden_state
                logits = self.model.lm_head(hidden[torch.tensor(rows), torch.tensor(cols)]).float()
            logp = torch.log_softmax(logits, dim=-1)
            target = torch.tensor(targets, device=logp.device)
            picked = logp.gather(1, target[:, None])[:, 0].cpu().numpy()
            greedy = (logp.argmax(-1) == target).cpu().numpy()
            at = 0
            for i in batch:
                n = n_cont[i]
                out[i] = (float(picked[at: at + n].sum()), bool(greedy[at: at + n].all()))
                at += n
            start = end
        return out


def suite_lm(model, tok: Tokenizer, device: str = "cpu", precision: str = "auto") -> SuiteLM:
    """The suite's own model and byte-level BPE tokenizer, contexts starting from end-of-text."""
    return SuiteLM(model, lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)],
                   tok.token_to_id(EOS), model.config.max_position_embeddings - 1, device=device, precision=precision)


@contextlib.contextmanager
def quiet():
    """No progress bars or info chatter from lm-eval and datasets during one evaluation (a run evaluates
    hundreds of cells; errors still surface as exceptions), and the global random states of Python, NumPy
    and torch as they were: lm-eval draws from them even with its seeds off."""
    import random

    import numpy as np

    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def _evaluate(lm, tasks: Sequence[str], include_path: Path, hub: bool, limit: int | None = None) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    with quiet():
        manager = TaskManager(include_path=str(include_path), include_defaults=hub)
        return simple_evaluate(
            model=lm, tasks=list(tasks), task_manager=manager, limit=limit, bootstrap_iters=100,
            random_seed=None, numpy_random_seed=None, torch_random_seed=None, fewshot_random_seed=None,
            log_samples=True, verbosity="ERROR",
        )


# DataDecide's continuous views of the same multiple-choice log-likelihoods (Magnusson et al. 2025, arXiv
# 2504.11393): at small scale they rank training data better than accuracy, which sits near chance.
CONTINUOUS = ("correct_prob_per_char", "margin_per_char", "total_prob_per_char")


def continuous_metrics(items: list[dict]) -> dict[str, float]:
    """CONTINUOUS, averaged over the multiple-choice items lm-eval logged for one task.

    Each choice's log-likelihood is divided by its continuation's characters (l_i = ll_i / chars_i):
    correct_prob_per_char = exp(l_gold); margin_per_char = l_gold - max over wrong choices of l_i;
    total_prob_per_char = sum over choices of exp(l_i). Items without a gold index among the choices are skipped.
    """
    sums = dict.fromkeys(CONTINUOUS, 0.0)
    n = 0
    for item in items:
        args, resps = item.get("arguments", ()), item.get("filtered_resps", ())
        choices = [a[1] for a in args]
        gold = item.get("target")
        if isinstance(gold, str) and gold in choices:
            gold = choices.index(gold)
        if len(choices) < 2 or len(resps) != len(choices) or not isinstance(gold, int) or not 0 <= gold < len(choices):
            continue
        lls = [float(r[0] if isinstance(r, (tuple, list)) else r) for r in resps]
        per_char = [ll / max(1, len(c)) for ll, c in zip(lls, choices)]
        wrong = max(x for i, x in enumerate(per_char) if i != gold)
        sums["correct_prob_per_char"] += math.exp(per_char[gold])
        sums["margin_per_char"] += per_char[gold] - wrong
        sums["total_prob_per_char"] += sum(math.exp(x) for x in per_char)
        n += 1
    return {k: v / n for k, v in sums.items()} if n else {}


def downstream(lm, tasks: Sequence[str], task_dir: Path, limit: int | None = None) -> dict[str, float]:
    """Per task: acc, acc_norm, their stderrs, the chance level and CONTINUOUS; then the averages over tasks.

    `downstream/centered` averages (acc_norm - chance) / (1 - chance), so tasks with different numbers of
    choices count alike; acc_norm (per-byte log-likelihood) keeps longer choices from losing for their length.
    The continuous metrics come from the same requests (lm-eval's logged samples), not a second pass.
    """
    if not tasks:
        return {}
    local = set(local_names())  # also registers the local tasks, so LOCAL is filled from here on
    hub = any(t not in local for t in tasks)
    out = _evaluate(lm, tasks, task_dir, hub, limit)
    metrics: dict[str, float] = {}
    centered, acc_norm = [], []
    per_task: dict[str, list[float]] = {k: [] for k in CONTINUOUS}
    for name in tasks:
        res = out["results"].get(name, {})
        for key, value in res.items():
            metric, _, _ = key.partition(",")
            if isinstance(value, (int, float)) and metric not in ("sample_len",):
                metrics[f"task/{name}/{metric}"] = float(value)
        items = out.get("samples", {}).get(name, [])
        for key, value in continuous_metrics(items).items():
            metrics[f"task/{name}/{key}"] = value
            per_task[key].append(value)
        chance = _chance(name, items)
        if chance is not None:
            metrics[f"task/{name}/chance"] = chance
        norm = res.get("acc_norm,none", res.get("acc,none"))
        if isinstance(norm, (int, float)):
            acc_norm.append(float(norm))
            if chance is not None:
                centered.append((float(norm) - chance) / (1 - chance))
    if acc_norm:
        metrics["downstream/acc_norm"] = sum(acc_norm) / len(acc_norm)
    if centered:
        metrics["downstream/centered"] = sum(centered) / len(centered)
    for key, values in per_task.items():
        if values:
            metrics[f"downstream/{key}"] = sum(values) / len(values)
    return metrics


def _chance(name: str, samples: list[dict]) -> float | None:
    """1 / choices for a local task; for a hub multiple-choice task, the mean of 1 / choices over its items."""
    if name in LOCAL:
        return 1.0 / N_CHOICES
    per_item = [1.0 / len(s["arguments"]) for s in samples if len(s.get("arguments", ())) > 1]
    return sum(per_item) / len(per_item) if per_item else None


def check_tasks(names: Sequence[str], log=print) -> tuple[str, ...]:
    """The tasks that can run here: local ones always; hub ones if lm-eval knows them and the hub answers.

    An unknown name is an error naming the known tasks; an unreachable hub is one line, and the rest run.
    """
    local = set(local_names())
    hub = [n for n in names if n not in local]
    if not hub:
        return tuple(names)
    from lm_eval.tasks import TaskManager

    with quiet():
        known = set(TaskManager().all_tasks)  # indexing lm-eval's built-in tasks takes ~6 s
    for name in hub:
        if name not in known:
            raise UserError(f"unknown task {name!r}; local tasks: {', '.join(sorted(local))}; hub tasks: any name "
                            f"in `lm-eval ls tasks`.{did_you_mean(name, sorted(local | known))}")
    if hub_reachable():
        return tuple(names)
    log(f"warning: the Hugging Face hub is unreachable, so hub tasks {', '.join(hub)} are skipped; "
        "local tasks still run")
    return tuple(n for n in names if n in local)
