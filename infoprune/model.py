"""The language models: one small Llama-style transformers model for the probe and for every cell."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from transformers import LlamaConfig, LlamaForCausalLM

from .atomic import atomic_write_json, read_checked, write_checked
from .config import ModelConfig


def build_model(cfg: ModelConfig, seed: int) -> LlamaForCausalLM:
    """A freshly initialised model; the same (cfg, seed) always gives the same weights."""
    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        intermediate_size=cfg.d_ff,
        max_position_embeddings=cfg.seq_len + 1,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    # Initialise under a forked RNG so building a model never disturbs any other random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(hf_cfg)


def count_params(model: torch.nn.Module, non_embedding: bool = True) -> int:
    n = sum(p.numel() for p in model.parameters())
    if non_embedding:
        n -= model.get_input_embeddings().weight.numel()
    return n


def save_model(model: LlamaForCausalLM, folder: Path) -> None:
    """Weights as safetensors (never pickle) with a sha256 beside them, the weights file last."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", model.config.to_dict())
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    write_checked(folder / "model.safetensors", safetensors_save(state))


def load_model(folder: Path) -> LlamaForCausalLM:
    data = read_checked(folder / "model.safetensors")
    if data is None:
        raise ValueError("model.safetensors fails its checksum")
    cfg = LlamaConfig.from_dict(json.loads((folder / "config.json").read_text()))
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg)
    missing, unexpected = model.load_state_dict(safetensors_load(data), strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"{folder}: weights do not match the model config")
    model.tie_weights()
    return model


def autocast(device: str, precision: str):
    """bf16 autocast where asked for (or `auto` and supported), else a no-op context."""
    enabled = precision == "bf16" or (precision == "auto" and bf16_supported(device))
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=enabled)


def lm_precision(device: str, precision: str) -> str:
    """The precision (`bf16` or `fp32`) the suite's own LM trains and scores in: `auto` is bf16 on CUDA, fp32 on CPU.

    Measured on 2 EPYC cores for the default model (d_model 64, vocab 2048): bf16 autocast trains no
    faster than fp32 (the skinny matmuls gain less than the casts around them cost), and fp32 scoring
    with the chunked NLL of scoring.py beats the bf16 path that must upcast its logits. So on CPU fp32 is
    as fast and more exact. `autocast` below keeps `auto` = bf16-where-supported for other models (MiniLM).
    """
    if precision == "auto":
        return "bf16" if device == "cuda" and bf16_supported(device) else "fp32"
    return precision


def bf16_supported(device: str) -> bool:
    if device == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(getattr(torch.backends, "mkldnn", None)) and torch.backends.mkldnn.is_available() and _cpu_has_bf16()


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
