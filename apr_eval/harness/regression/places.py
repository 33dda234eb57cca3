"""Places in a TOML file: ``[[models]][2].sampling.n`` and, best effort, its line number.

tomllib gives values without positions, so the line is found by re-reading the text: every
header and ``key =`` line gets its full path (array-of-tables entries counted from 1), and the
line whose path matches the place (or its longest prefix, e.g. an inline table) is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Part = str | int  # a key, or an entry number (from 1) of an array of tables / array value

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=")


@dataclass(frozen=True)
class Place:
    parts: tuple[Part, ...] = ()
    array_head: bool = False  # parts[0:2] name an entry of an array of tables

    @classmethod
    def array(cls, name: str, index0: int) -> Place:
        return cls((name, index0 + 1), array_head=True)

    def child(self, key: str) -> Place:
        return Place((*self.parts, key), self.array_head)

    def index(self, index0: int) -> Place:
        return Place((*self.parts, index0 + 1), self.array_head)

    def text(self) -> str:
        out = ""
        parts = list(self.parts)
        if self.array_head:
            out = f"[[{parts[0]}]][{parts[1]}]"
            parts = parts[2:]
        for part in parts:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                shown = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
                out += f".{shown}" if out else shown
        return out


def _split(dotted: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _paths(text: str) -> list[tuple[int, tuple[Part, ...]]]:
    """(line number, full path) of every header and key line."""
    counts: dict[tuple[Part, ...], int] = {}
    current: tuple[Part, ...] = ()
    out: list[tuple[int, tuple[Part, ...]]] = []

    def with_indices(names: list[str]) -> tuple[Part, ...]:
        path: tuple[Part, ...] = ()
        for name in names:
            path = (*path, name)
            if path in counts:
                path = (*path, counts[path])
        return path

    for lineno, line in enumerate(text.splitlines(), 1):
        if m := _ARRAY_HEADER.match(line):
            names = _split(m.group(1))
            base = (*with_indices(names[:-1]), names[-1])
            counts[base] = counts.get(base, 0) + 1
            current = (*base, counts[base])
            out.append((lineno, current))
        elif m := _HEADER.match(line):
            current = with_indices(_split(m.group(1)))
            out.append((lineno, current))
        elif m := _KEY.match(line):
            out.append((lineno, current + tuple(_split(m.group(1)))))
    return out


def locate(text: str, place: Place) -> int | None:
    """The line that defines ``place`` (or the nearest enclosing definition), if found."""
    target = place.parts
    best, best_len = None, 0
    for lineno, path in _paths(text):
        if path == target:
            return lineno
        if len(path) > best_len and target[: len(path)] == path:
            best, best_len = lineno, len(path)
    return best
