"""One registry for everything the suite looks up by name: criteria, local downstream tasks, corpus sources.

Entries register themselves when their module is imported; the registry imports those modules lazily, on
the first lookup (`discover`). A name taken by another object is refused, naming both; an unknown name gets
one line listing the valid names, with a "did you mean" when one is close.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterable, TypeVar

from .errors import UserError

T = TypeVar("T")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """" Did you mean 'x'?" for the closest known name, or "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """Entries of one kind by name, filled by `add` as their modules are imported by `discover`."""

    def __init__(self, kind: str, plural: str, discover: Callable[[], None] | None = None,
                 origin: Callable[[T], str] = repr, error: type[Exception] = UserError) -> None:
        self.kind, self.plural, self.error = kind, plural, error
        self.entries: dict[str, T] = {}
        self._origin = origin  # where an entry was defined: tells a clash from the same module imported twice
        self._discover = discover
        self._discovered = discover is None

    def add(self, name: str, entry: T) -> T:
        known = self.entries.get(name)
        if known is not None and self._origin(known) != self._origin(entry):
            raise self.error(f"two {self.plural} are named {name!r}: {self._origin(known)} and {self._origin(entry)}; "
                             "rename one of them")
        self.entries[name] = entry
        return entry

    def discover(self) -> None:
        if not self._discovered:
            self._discovered = True  # first, so that a module imported during discovery does not recurse
            self._discover()

    def names(self) -> list[str]:
        self.discover()
        return sorted(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def get(self, name: str) -> T:
        if name not in self:
            raise self.error(f"unknown {self.kind} {name!r}; valid {self.plural}: {', '.join(self.names())}."
                             + did_you_mean(name, self.names()))
        return self.entries[name]
