"""The unit every corpus source yields: one document with a stable id."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A document as parsed from its source.

    `id` is stable across runs and machines (`{source}/{work}/{index}`): the split, the
    random criterion and every cache key hash it, so it must never depend on parse order.
    """

    id: str
    source: str
    text: str


@dataclass
class Corpus:
    """Documents plus what is needed to trust them: per-source provenance and a fingerprint."""

    spec: str
    documents: list[Document]
    manifest: dict = field(default_factory=dict)
    fingerprint: str = ""
