"""Lazy registries: name -> "module:Attribute", imported on first use.

Built-ins are registered the same way a third party would (the ``apr_eval.<kind>`` entry-point
groups), so no part of apr-eval dispatches on strings with if/elif.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from apr_eval.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, builtins: Mapping[str, str]) -> None:
        self.kind = kind
        self._targets: dict[str, str] = dict(builtins)
        self._loaded: dict[str, T] = {}
        self._plugins_read = False

    def register(self, name: str, target: str) -> None:
        self._targets[name] = target
        self._loaded.pop(name, None)

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in entry_points(group=f"apr_eval.{self.kind}"):
            self._targets.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        self._read_plugins()
        return sorted(self._targets)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        self._read_plugins()
        if name in self._loaded:
            return self._loaded[name]
        target = self._targets.get(name)
        if target is None:
            raise UsageError(self._unknown(name))
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        obj: Any = getattr(module, attr)
        self._loaded[name] = obj
        return obj  # type: ignore[no-any-return]

    def _unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"unknown {self.kind} '{name}'.{hint} Known: {', '.join(self.names())}"
