"""Downstream tasks: local multiple-choice tasks built from unseen text, written as lm-eval task configs.

Each local task is one builder function registered with `@task` in `local.py`. It turns documents of the
default corpus that no trained LM sees (the held-out hash band, and the out-of-domain novel) into items
`{query, choices, gold}`. `build_tasks` writes them to the data cache as JSONL plus an lm-eval YAML config,
with a checksum, and rebuilds any task whose files are missing or corrupt. `infoprune/harness.py` runs them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..atomic import atomic_write_text, read_entry, write_checked
from ..config import DataConfig, stable_hash
from ..documents import Document
from ..errors import UserError
from .spec import LOCAL, N_CHOICES, TaskSpec, local_names, task  # noqa: F401 - the package's interface

TASKS_VERSION = "1"
ITEMS = 1000  # per task: a 1,000-item task measures accuracy to about +-1.4 points (one stderr at chance)


def resolve(text: str) -> tuple[str, ...]:
    """`local` -> every local task; `none` -> no downstream evaluation; else a comma list of task names.

    Names that are not local tasks are lm-eval hub tasks; `harness.check_hub_tasks` validates them.
    """
    names: list[str] = []
    for name in (x.strip() for x in text.split(",")):
        if name in ("", "none"):
            continue
        names += local_names() if name == "local" else [name]
    if len(set(names)) != len(names):
        raise UserError(f"--tasks {text!r} names a task twice")
    return tuple(names)


def check_local(name: str) -> TaskSpec:
    return LOCAL.get(name)


# The tasks are built once for every run, from the bands of the default split (split_seed 0, Persuasion out of
# domain): the documents no trained LM and no criterion sees.
SPLIT = DataConfig()


def material(data_dir: Path, sources: set[str], log=print) -> tuple[dict[str, list[Document]], Counter]:
    """The unseen documents of each source (its test band; for `austen`, the out-of-domain novel), and word
    counts over all of those sources' text, which define the frequency bands of distractors. No document of
    the dev band, which criteria may read, is among them."""
    from ..samples import band
    from ..sources import load_corpus
    from .local import word_counts

    corpus = load_corpus("default:" + ",".join(sorted(sources)), data_dir, log=log)
    counts = word_counts(d.text for d in corpus.documents)
    by_source: dict[str, list[Document]] = {s: [] for s in sources}
    for doc in corpus.documents:
        if band(doc, SPLIT) == ("ood" if doc.source == "austen" else "test"):
            by_source[doc.source].append(doc)
    return by_source, counts


def task_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "tasks" / f"v{TASKS_VERSION}-{ITEMS}"


def build_tasks(names: tuple[str, ...], data_dir: Path, log=print) -> dict[str, dict]:
    """Make sure each local task's JSONL and YAML are in the cache; return {name: {items, chance, sha256}}."""
    folder = task_dir(data_dir)
    specs = [check_local(n) for n in names]
    info: dict[str, dict] = {}
    missing = []
    for spec in specs:
        data, problem = read_entry(folder / f"{spec.name}.jsonl")
        if data is None or not (folder / f"{spec.name}.yaml").exists():
            if problem:
                log(f"warning: task {spec.name} in {folder} {problem}; rebuilding it")
            missing.append(spec)
        else:
            info[spec.name] = _info(spec, data)
    if missing:
        docs, counts = material(data_dir, {s.source for s in missing}, log)
        for spec in missing:
            items = spec.build(docs[spec.source], counts, ITEMS)
            if len(items) < ITEMS:
                raise UserError(f"task {spec.name}: only {len(items)} items from its unseen text (need {ITEMS})")
            data = "".join(json.dumps(it, ensure_ascii=False, sort_keys=True) + "\n" for it in items).encode()
            write_checked(folder / f"{spec.name}.jsonl", data)
            atomic_write_text(folder / f"{spec.name}.yaml", task_yaml(spec.name, folder / f"{spec.name}.jsonl"))
            info[spec.name] = _info(spec, data)
            log(f"tasks: built {spec.name} ({len(items)} items) in {folder}")
    return {n: info[n] for n in names}


def _info(spec: TaskSpec, data: bytes) -> dict:
    return {"items": data.count(b"\n"), "chance": spec.chance, "key": stable_hash(data.decode())}


def task_yaml(name: str, jsonl: Path) -> str:
    """An lm-eval multiple-choice config. Fields are named directly (no Jinja), which lm-eval reads fastest."""
    return f"""task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {json.dumps(str(jsonl))}
test_split: test
output_type: multiple_choice
doc_to_text: query
doc_to_choice: choices
doc_to_target: gold
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: {TASKS_VERSION}
"""
