"""A tiny name -> entry registry shared by cells, tasks, datasets and seq2seq variants.

The CLI, `rnnbench list`, the pipeline's config schema and the error messages all
read the same registries, so a new entry shows up everywhere at once.
"""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from .errors import unknown

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # used in error messages: "unknown <kind> 'x' (valid: ...)"
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise KeyError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str):
        """Decorator form: `@TASKS.register("adding")`."""
        def deco(obj):
            self.add(name, obj)
            return obj
        return deco

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise unknown(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self):
        return self._entries.items()

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
