"""The local task registry: a task is a builder function registered with `@task` (in `local.py`)."""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from ..documents import Document
from ..registry import Registry

N_CHOICES = 4


@dataclass(frozen=True)
class TaskSpec:
    name: str
    source: str  # the default-corpus source its material comes from
    about: str
    build: Callable[[list[Document], Counter, int], list[dict]]  # (unseen documents, word counts, n) -> items

    @property
    def chance(self) -> float:
        return 1.0 / N_CHOICES


def _discover() -> None:
    importlib.import_module("infoprune.tasks.local")  # its builders register themselves


LOCAL: Registry[TaskSpec] = Registry("task", "local tasks", _discover,
                                     lambda spec: f"{spec.build.__module__}.{spec.build.__qualname__}")


def task(name: str, source: str, about: str):
    """Register a local task builder under `name`."""

    def register(fn):
        LOCAL.add(name, TaskSpec(name, source, about, fn))
        return fn

    return register


def local_names() -> tuple[str, ...]:
    return tuple(LOCAL.names())
