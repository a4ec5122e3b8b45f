"""A small typed registry that refuses duplicates and suggests near matches for unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from bench.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object map where registering a name twice is an error.

    >>> r: Registry[int] = Registry("thing")
    >>> r.register("alpha", 1)
    >>> r.get("alpha")
    1
    >>> r.get("alpah")
    Traceback (most recent call last):
    ...
    bench.errors.ConfigError: unknown thing 'alpah'; did you mean 'alpha'? (known: alpha)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, origin: str = "") -> None:
        if name in self._items:
            where = f" (from {origin})" if origin else ""
            raise ConfigError(f"{self.kind} '{name}' is defined twice{where}")
        self._items[name] = item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._items), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._items)) or "none"
        return f"unknown {self.kind} '{name}'{hint} (known: {known})"

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())
