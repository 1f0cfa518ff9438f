"""A tiny name -> entry registry shared by cells, tasks, datasets and seq2seq variants.

The CLI, `rnnbench list`, the pipeline's config schema and the error messages all
read the same registries, so a new entry shows up everywhere at once. A lookup first loads
the plugins (`plugins.load()`: entry points and $RNNBENCH_PLUGINS), so a plugin's entries
do too; adding an entry does not.
"""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from . import plugins
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

    def _all(self) -> dict[str, T]:
        """The entries, the plugins' included (loading them is a no-op once done)."""
        plugins.load()
        return self._entries

    def get(self, name: str) -> T:
        try:
            return self._all()[name]
        except KeyError:
            raise unknown(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return list(self._all())

    def items(self):
        return self._all().items()

    def __contains__(self, name) -> bool:
        return name in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
