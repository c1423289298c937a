"""The lm-eval adapter: its log-likelihoods equal the scoring engine's, its rolling bits/byte agree with the
suite's own evaluation within 1%, and downstream metrics come back per task with chance and averages."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import pytest
import torch

from infoprune import harness, tasks
from infoprune.atomic import atomic_write_text, write_checked
from infoprune.config import ModelConfig, TrainConfig
from infoprune.errors import UserError
from infoprune.evaluate import lm_metrics
from infoprune.model import build_model
from infoprune.samples import chunk
from infoprune.scoring import token_nll
from infoprune.tokenizer import eos_id, train_tokenizer
from infoprune.train import train

from conftest import make_documents


@pytest.fixture(scope="module")
def trained():
    """A tokenizer and a tiny LM trained a little on varied text, plus held-out samples of that text."""
    docs = make_documents(60, seed=3)
    tok = train_tokenizer(docs, 400)
    model = build_model(ModelConfig(vocab_size=400, seq_len=48, d_model=32, n_layers=1, n_heads=2, d_ff=64), 0)
    train(model, chunk(docs[:50], tok, 48), TrainConfig(budget="tokens:20000", batch_size=8, precision="fp32"),
          48, eos_id(tok), seed=0)
    return model, tok, chunk(docs[50:], tok, 48)


def test_loglikelihood_equals_the_scoring_engine(trained):
    model, tok, heldout = trained
    lm = harness.suite_lm(model, tok, precision="fp32")
    texts = [s.text[:120] for s in heldout[:12]]  # well inside one window: nothing is cut from the left
    requests = [SimpleNamespace(args=(t[:20].rstrip() + " ", t[20:].lstrip())) for t in texts]
    requests.append(SimpleNamespace(args=("", texts[0])))
    got = lm.loglikelihood(requests)
    for (context, continuation), (logp, _) in zip((r.args for r in requests), got):
        context = context.rstrip()  # as lm-eval's HFLM: a trailing space belongs to the continuation
        whole = tok.encode(context + " " + continuation if context else continuation, add_special_tokens=False).ids
        n_ctx = len(tok.encode(context, add_special_tokens=False).ids) if context else 0
        sample = SimpleNamespace(id="x", tokens=torch.tensor(whole).numpy().astype("int32"))
        nll = token_nll(model, [sample], eos_id(tok), precision="fp32")[0]
        assert logp == pytest.approx(-nll[n_ctx:].sum(), rel=1e-4, abs=1e-4)


def test_greedy_flag_is_true_exactly_when_every_token_is_the_argmax(trained):
    model, tok, _ = trained
    lm = harness.suite_lm(model, tok, precision="fp32")
    ids = [tok.token_to_id("<|endoftext|>")]
    for _ in range(4):  # extend greedily: the continuation is the model's own argmax path
        with torch.inference_mode():
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    off_path = ids[:-1] + [(ids[-1] + 1) % 400]
    (_, greedy), (_, not_greedy) = lm._score([(ids[:2], ids[2:]), (off_path[:2], off_path[2:])])
    assert greedy and not not_greedy


ROLLING_TASK = """task: heldout_bpb
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: text
metric_list:
  - metric: bits_per_byte
    aggregation: bits_per_byte
    higher_is_better: false
"""


def rolling_bpb(lm, texts, folder) -> float:
    """lm-eval's own `loglikelihood_rolling` bits per byte over `texts`, as a task written to `folder`."""
    data = folder / "heldout.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    (folder / "heldout.yaml").write_text(ROLLING_TASK.format(path=json.dumps(str(data))))
    out = harness._evaluate(lm, ["heldout_bpb"], folder, hub=False)
    return float(out["results"]["heldout_bpb"]["bits_per_byte,none"])


def test_rolling_bits_per_byte_agree_with_the_suites_own_within_one_percent(trained, tmp_path):
    model, tok, heldout = trained
    own = lm_metrics("x", heldout, token_nll(model, heldout, eos_id(tok), precision="fp32"))["bpb/x"]
    rolled = rolling_bpb(harness.suite_lm(model, tok, precision="fp32"), [s.text for s in heldout], tmp_path)
    assert abs(rolled - own) / own < 0.01, (rolled, own)


def write_task(data_dir, name: str, items: list[dict]) -> None:
    folder = tasks.task_dir(data_dir)
    write_checked(folder / f"{name}.jsonl", "".join(json.dumps(i) + "\n" for i in items).encode())
    atomic_write_text(folder / f"{name}.yaml", tasks.task_yaml(name, folder / f"{name}.jsonl"))


def test_downstream_reports_each_task_with_chance_and_centred_average(trained, tmp_path):
    model, tok, _ = trained
    rng = random.Random(0)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    items = [{"id": str(i), "query": f"the word is {w}. again:", "choices": rng.sample(words, 4), "gold": 0}
             for i, w in enumerate(rng.choice(words) for _ in range(40))]
    write_task(tmp_path, "wordnet_define", items)
    write_task(tmp_path, "gcide_define", items[:20])
    m = harness.downstream(harness.suite_lm(model, tok, precision="fp32"), ("wordnet_define", "gcide_define"),
                           tasks.task_dir(tmp_path))
    for name, n in (("wordnet_define", 40), ("gcide_define", 20)):
        assert {f"task/{name}/{k}" for k in ("acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "chance")} <= set(m)
        assert m[f"task/{name}/chance"] == 0.25 and 0 <= m[f"task/{name}/acc"] <= 1
        acc = m[f"task/{name}/acc"]
        assert m[f"task/{name}/acc_stderr"] == pytest.approx(math.sqrt(acc * (1 - acc) / (n - 1)), rel=1e-6)
        # The continuous metrics, from the same logged requests: a gold probability under the choices' total.
        assert 0 < m[f"task/{name}/correct_prob_per_char"] < m[f"task/{name}/total_prob_per_char"] <= 4
    for key in harness.CONTINUOUS:
        pair = (m[f"task/wordnet_define/{key}"], m[f"task/gcide_define/{key}"])
        assert m[f"downstream/{key}"] == pytest.approx(sum(pair) / 2)
    mean_norm = (m["task/wordnet_define/acc_norm"] + m["task/gcide_define/acc_norm"]) / 2
    assert m["downstream/acc_norm"] == pytest.approx(mean_norm)
    assert m["downstream/centered"] == pytest.approx((mean_norm - 0.25) / 0.75)
    limited = harness.downstream(harness.suite_lm(model, tok, precision="fp32"), ("wordnet_define",),
                                 tasks.task_dir(tmp_path), limit=10)
    assert limited["task/wordnet_define/acc"] in {k / 10 for k in range(11)}


def test_evaluation_leaves_global_random_state_alone(trained, tmp_path):
    model, tok, _ = trained
    write_task(tmp_path, "wordnet_define", [{"id": "0", "query": "q:", "choices": ["a", "b", "c", "d"], "gold": 1}])
    random.seed(123)
    torch.manual_seed(123)
    expected = (random.random(), torch.rand(1).item())
    random.seed(123)
    torch.manual_seed(123)
    harness.downstream(harness.suite_lm(model, tok), ("wordnet_define",), tasks.task_dir(tmp_path))
    assert (random.random(), torch.rand(1).item()) == expected


def test_hub_tasks_unknown_or_unreachable(monkeypatch):
    monkeypatch.setattr(harness, "hub_reachable", lambda timeout=3.0: False)
    logs: list[str] = []
    assert harness.check_tasks(("wordnet_define", "arc_easy"), logs.append) == ("wordnet_define",)
    assert len(logs) == 1 and "unreachable" in logs[0] and "arc_easy" in logs[0]
    with pytest.raises(UserError, match="unknown task 'arc_eazy';.*Did you mean 'arc_easy'"):
        harness.check_tasks(("arc_eazy",))
    assert harness.check_tasks(tasks.local_names()) == tasks.local_names()  # no hub lookup for local tasks


def test_the_hub_counts_as_unreachable_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert harness.hub_reachable() is False


def test_generation_tasks_are_refused(trained):
    model, tok, _ = trained
    with pytest.raises(UserError, match="generation"):
        harness.suite_lm(model, tok).generate_until([])


def test_continuous_metrics_match_a_hand_computed_item():
    # Choices " ab" (3 chars, ll -3), " cdef" (5 chars, ll -10), gold is the first: per char -1 and -2.
    item = {"arguments": [("q", " ab"), ("q", " cdef")], "filtered_resps": [(-3.0, False), (-10.0, False)],
            "target": 0}
    wrong_gold = dict(item, target=1)
    got = harness.continuous_metrics([item])
    assert got["correct_prob_per_char"] == pytest.approx(math.exp(-1))
    assert got["margin_per_char"] == pytest.approx(1.0)
    assert got["total_prob_per_char"] == pytest.approx(math.exp(-1) + math.exp(-2))
    both = harness.continuous_metrics([item, wrong_gold])  # averaged over items
    assert both["margin_per_char"] == pytest.approx(0.0)
    assert both["correct_prob_per_char"] == pytest.approx((math.exp(-1) + math.exp(-2)) / 2)
    # A gold given as the choice's text, plain floats as responses; an item without a usable gold is skipped.
    as_text = {"arguments": item["arguments"], "filtered_resps": [-3.0, -10.0], "target": " ab"}
    assert harness.continuous_metrics([as_text, dict(item, target=7)]) == got
    assert harness.continuous_metrics([]) == {}
