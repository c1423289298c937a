"""The command line: one clear line and exit 2 for bad input, and a smoke run plus its report."""

import pytest
import torch

from conftest import make_documents, write_jsonl
from test_downstream_run import items
from test_harness import write_task

from infoprune.tasks import local_names

from bench.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--criteria", "informaton"], "unknown criterion 'informaton'; valid criteria: "),
        (["--criteria", "length:unit=words"], "length: unit must be one of tokens, bytes"),
        (["--ratios", "0"], "pruning ratio 0.0 is outside (0, 1)"),
        (["--ratios", "1"], "pruning ratio 1.0 is outside (0, 1)"),
        (["--ratios=-0.2,0.5"], "pruning ratio -0.2 is outside (0, 1)"),
        (["--ratios", "half"], "--ratios 'half'"),
        (["--seeds", "0"], "the count of seeds must be at least 1"),
        (["--seeds", "1,1"], "repeats a seed"),
        (["--budget", "steps:10"], "write tokens:N (compute-matched) or epochs:N"),
        (["--preset", "huge"], "unknown preset 'huge'; valid presets: smoke, default, large, gpu-proxy, paper"),
        (["--device", "tpu"], "unknown device 'tpu'; valid devices: auto, cpu, cuda"),
        pytest.param(["--device", "cuda"], "no CUDA GPU is visible", marks=pytest.mark.skipif(
            torch.cuda.is_available(), reason="a GPU is visible here")),
        (["--corpus", "jsonl:/nonexistent/x.jsonl"], "/nonexistent/x.jsonl"),
        (["--corpus", "ftp:somewhere"], "ftp:somewhere"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(capsys, tmp_path, argv, expected):
    code, _, err = run_cli(capsys, "run", "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "d"), *argv)
    assert code == 2
    assert last_line(err).startswith("error: ") and expected in last_line(err)


def test_did_you_mean(capsys, tmp_path):
    _, _, err = run_cli(capsys, "run", "--criteria", "informaton", "--out", str(tmp_path))
    assert "Did you mean 'information'?" in last_line(err)


def test_a_corpus_of_blank_documents_is_refused(capsys, tmp_path):
    (tmp_path / "blank.jsonl").write_text('{"text": "  "}\n{"text": "\\n"}\n')
    code, _, err = run_cli(capsys, "run", "--corpus", f"jsonl:{tmp_path / 'blank.jsonl'}",
                           "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "d"))
    assert code == 2 and "no non-blank documents" in last_line(err)


def test_report_of_a_missing_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, "report", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in last_line(err)


def test_perf_refuses_a_missing_corpus_before_timing_anything(capsys, tmp_path):
    code, _, err = run_cli(capsys, "perf", "--corpus", f"jsonl:{tmp_path / 'missing.jsonl'}", "--skip-smoke",
                           "--data-dir", str(tmp_path / "d"))
    assert code == 2 and "missing.jsonl" in last_line(err)
    assert "matmul" not in err


def test_smoke_run_then_report(capsys, tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", make_documents(200))
    out = tmp_path / "out"
    for i, name in enumerate(local_names()):  # the smoke preset's tasks, ready in the cache: nothing is fetched
        write_task(tmp_path / "d", name, items(30, i))
    code, table, _ = run_cli(capsys, "run", "--preset", "smoke", "--criteria", "random,length,information",
                             "--ratios", "0.5", "--corpus", f"jsonl:{corpus}", "--ood", "letters/work3",
                             "--out", str(out), "--data-dir", str(tmp_path / "d"))
    assert code == 0
    assert "| full data |" in table and "| information |" in table
    code, again, _ = run_cli(capsys, "report", str(out))
    assert code == 0 and again == table
    assert (out / "bpb.png").stat().st_size > 10_000


def test_list_shows_each_criterion_with_its_paper(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    assert "information (v1) keeps the most informative" in out and "Kim & Baek" in out
    assert "unit=tokens [tokens|bytes]" in out


def test_the_paper_preset_is_a_gpt2_small_class_model(monkeypatch):
    from bench import presets
    from infoprune.model import build_model, count_params

    with torch.device("meta"):  # shapes only: no 0.5 GB of weights on a test machine
        model = build_model(presets.PRESETS["paper"].model, 0)
    assert 120e6 < count_params(model, non_embedding=False) < 130e6
    args = presets_args(preset="paper")
    monkeypatch.setattr(presets, "hub_reachable", lambda: False)
    assert presets.build_config(args).data.corpus == "default"  # offline: the whole default corpus
    monkeypatch.setattr(presets, "hub_reachable", lambda: True)
    assert presets.build_config(args).data.corpus == presets.PAPER_HUB_CORPUS
    assert presets.build_config(presets_args(preset="paper", corpus="jsonl:x.jsonl")).data.corpus == "jsonl:x.jsonl"


def presets_args(**given):
    from bench.cli import parser

    args = parser().parse_args(["run", "--criteria", "random"])
    for k, v in given.items():
        setattr(args, k, v)
    return args
