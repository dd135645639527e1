"""Name -> object registries for everything that configs and sweeps address by name.

One small class serves stages, rewards, curricula, depth providers, teachers, judges, benchmarks and
inference backends. Modules register on import; `Registry.get` imports the registry's home package
first so that a name is found without the caller knowing which module defines it.
"""

from __future__ import annotations

import importlib
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name no one registered; the message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, home: str | None = None) -> None:
        self.kind = kind
        self.home = home  # package whose import registers the built-in entries
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def _load_home(self) -> None:
        if self.home:
            importlib.import_module(self.home)

    def get(self, name: str) -> T:
        if name not in self._entries:
            self._load_home()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        self._load_home()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_home()
        return name in self._entries


STAGES: Registry = Registry("stage", "sif.stages")
REWARDS: Registry = Registry("reward", "sif.rewards")
CURRICULA: Registry = Registry("curriculum", "sif.curriculum")
DEPTH_PROVIDERS: Registry = Registry("depth provider", "sif.depth")
TEACHERS: Registry = Registry("teacher", "sif.generate")
BENCHMARKS: Registry = Registry("benchmark", "sif.eval.benchmarks")
BACKENDS: Registry = Registry("inference backend", "sif.eval.backends")
SOURCES: Registry = Registry("dataset source", "sif.data.sources")
