"""Canonical digests of large values (stdlib only; copied into the sandbox image beside
``codec.py``, which tags them as ``{"$h": [sha256, bytes]}``).

Some expected outputs are huge (HumanEval+ /15 and /130: >100 MB of plus outputs). Where a
group is compared by exact equality only, the runner reports a large output as the sha256 of a
canonical form instead of the value, and the host compares it with the digest of the expected
value. The canonical form respects Python's ``==``: sets and dicts are order-free, ``True``,
``1``, ``1.0`` and ``1+0j`` are one number. Values holding NaN or unencodable objects get no
digest (NaN is unequal to itself; an opaque object equals nothing) and travel whole.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

MAX_DEPTH = 100  # the deepest nesting encoded or digested


class Digest:
    """A reported large value: equal only to a Digest of an equal value."""

    __slots__ = ("hexdigest", "size")

    def __init__(self, hexdigest: str, size: int) -> None:
        self.hexdigest, self.size = hexdigest, size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Digest) and other.hexdigest == self.hexdigest

    def __hash__(self) -> int:
        return hash(self.hexdigest)

    def __repr__(self) -> str:
        return f"<digest {self.hexdigest[:12]} of {self.size} bytes>"


class _NoDigest(Exception):
    pass


def _number(value: Any, floats: bool) -> bytes:
    """int, bool, float and complex share one form where Python says they are equal."""
    if isinstance(value, int):  # bool included: True == 1
        return b"n" + hex(int.__index__(value)).encode() + b";"
    if not floats:
        raise _NoDigest
    if isinstance(value, float):
        f = float.__float__(value)
        if math.isnan(f):
            raise _NoDigest
        return _number(int(f), floats) if f.is_integer() else b"f" + f.hex().encode() + b";"
    c = complex.__complex__(value)
    if c.imag == 0:
        return _number(c.real, floats)
    return b"c" + _number(c.real, floats) + _number(c.imag, floats)


class _Hasher:
    """sha256 fed through a buffer: one C call per megabyte, not per element."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.buf = bytearray()

    def put(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > 1 << 20:
            self.h.update(self.buf)
            self.buf.clear()

    def digest(self) -> bytes:
        self.h.update(self.buf)
        self.buf.clear()
        return self.h.digest()


def _sub(value: Any, depth: int, floats: bool) -> bytes:
    h = _Hasher()
    _feed(h, value, depth, floats)
    return h.digest()


def _feed(h: _Hasher, value: Any, depth: int, floats: bool) -> None:
    """Stream a canonical form into ``h``: memory stays O(depth), whatever the value's size."""
    if depth > MAX_DEPTH:
        raise _NoDigest
    d = depth + 1
    if isinstance(value, (int, float, complex)):
        h.put(_number(value, floats))
    elif isinstance(value, str):
        data = str.__str__(value).encode("utf-8", "surrogatepass")
        h.put(b"s%d:" % len(data) + data)
    elif isinstance(value, (bytes, bytearray)):
        h.put(b"b%d:" % len(value) + bytes(value))
    elif isinstance(value, (tuple, list)):
        items = list(tuple.__iter__(value) if isinstance(value, tuple) else list.__iter__(value))
        h.put(b"t(" if isinstance(value, tuple) else b"l(")
        kinds = set(map(type, items))
        if kinds == {int}:  # fast path, same bytes as _number
            h.put(("n" + ";n".join(map(hex, items)) + ";").encode())
        elif kinds and all(issubclass(k, str) for k in kinds):
            # Strings only: a str equals only a str, so every value equal to this one takes
            # this branch too. repr (in C) is injective on strings: one call, not one per item.
            texts = items if kinds == {str} else [str.__str__(v) for v in items]
            h.put(b"q" + repr(texts).encode("utf-8", "surrogatepass"))
        else:
            for v in items:
                _feed(h, v, d, floats)
        h.put(b")")
    elif isinstance(value, (set, frozenset)):
        h.put(b"S(" + b"".join(sorted(_sub(v, d, floats) for v in value)) + b")")
    elif isinstance(value, dict):
        pairs = sorted(_sub(k, d, floats) + _sub(v, d, floats) for k, v in dict.items(value))
        h.put(b"D(" + b"".join(pairs) + b")")
    else:
        raise _NoDigest


def digest(value: Any, allow_floats: bool = True) -> Digest | None:
    """The canonical digest of ``value``, or None where equality cannot be reduced to one
    (``allow_floats=False`` also refuses any float: for callers that may need tolerance)."""
    if isinstance(value, Digest):
        return value
    h = _Hasher()
    try:
        _feed(h, value, 0, allow_floats)
    except (_NoDigest, RecursionError, ValueError):
        return None
    return Digest(h.digest().hex(), 0)
