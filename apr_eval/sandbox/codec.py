"""Tagged JSON for values crossing the sandbox boundary (never pickle).

Stdlib only: this file is also copied into the sandbox image and imported by the runner.

Plain JSON keeps ``None``, ``bool``, ``int``, ``str`` and finite ``float``; everything else is a
one-key object: ``{"$t": [...]}`` tuple, ``{"$s": [...]}`` set, ``{"$fs": [...]}`` frozenset,
``{"$d": [[k, v], ...]}`` dict, ``{"$c": [re, im]}`` complex, ``{"$f": "nan"|"inf"|"-inf"}``,
``{"$b": "<base64>"}`` bytes, ``{"$i": "0x..."}`` huge int, ``{"$h": [sha256, bytes]}`` digest
of a large value (see :func:`digest`), ``{"$x": weight}`` a value too large to be any expected
output (see :func:`weight`), ``{"$o": "TypeName"}`` anything else. ``$o`` and ``$x`` values
decode to an :class:`Opaque`, which equals nothing: a program cannot pass by returning an
object whose ``__eq__`` lies. Subclasses of builtins are encoded through the builtin's own
methods, so an overridden ``__eq__``/``__iter__``/``__str__`` is never consulted. A numpy
scalar is encoded as the Python value it equals.
"""

from __future__ import annotations

import base64
import itertools
import math
from collections.abc import Iterator
from typing import Any

from apr_eval.sandbox.digest import MAX_DEPTH, Digest, digest

__all__ = [  # digests live in digest.py; codec is the one boundary module callers import
    "DECODE_DEPTH",
    "FLOOD_MIN",
    "MAX_DEPTH",
    "SCALARS",
    "Digest",
    "EncodeError",
    "Opaque",
    "decode",
    "digest",
    "encode",
    "flooded",
    "weight",
]


class Opaque:
    """Stands for a value the sandbox could not encode. Equal to nothing, itself included."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<unencodable {self.type_name}>"


class EncodeError(ValueError):
    pass


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return {"$f": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def encode(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise EncodeError("value nested too deeply")
    d = depth + 1
    if value is None or value is True or value is False:
        return value
    if isinstance(value, bool):  # bool subclass cannot exist; defensive
        return bool.__bool__(value)
    if isinstance(value, int):
        n = int.__index__(value)
        # json cannot print ints past sys.int_info's 4300-digit limit; hex has no limit
        return {"$i": hex(n)} if n.bit_length() > 13000 else n
    if isinstance(value, float):
        return _float(float.__float__(value))
    if isinstance(value, str):
        return str.__str__(value) if type(value) is not str else value
    if isinstance(value, tuple):
        return {"$t": [encode(v, d) for v in tuple.__iter__(value)]}
    if isinstance(value, list):
        return [encode(v, d) for v in list.__iter__(value)]
    if isinstance(value, dict):
        return {"$d": [[encode(k, d), encode(v, d)] for k, v in dict.items(value)]}
    if isinstance(value, frozenset):
        return {"$fs": [encode(v, d) for v in frozenset.__iter__(value)]}
    if isinstance(value, set):
        return {"$s": [encode(v, d) for v in set.__iter__(value)]}
    if isinstance(value, complex):
        c = complex.__complex__(value)
        return {"$c": [_float(c.real), _float(c.imag)]}
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if _numpy_scalar(value):
        return encode(value.item(), d)
    return {"$o": type(value).__name__[:100]}


def _numpy_scalar(value: Any) -> bool:
    """A numpy scalar (``np.int64(3)``, ``np.bool_``, a 0-d array): equal, under the reference
    harness's ``==``, to the Python value its ``item()`` returns. Only numpy's own types."""
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0


_FLOATS = {"inf": math.inf, "-inf": -math.inf}
DECODE_DEPTH = MAX_DEPTH + 2  # encode nests at most MAX_DEPTH; one more for a tagged body
FLOOD_MIN = 64  # hash-table values at least this many are checked for colliding hashes


def decode(data: Any) -> Any:
    """Tagged JSON -> value. Total on untrusted data: anything malformed, nested past
    ``DECODE_DEPTH``, or a set/dict whose keys collide in hash (hash flooding: quadratic to
    build) raises EncodeError, nothing else. Every NaN is a fresh object (as a NaN computed in
    another process: ``[nan] != [nan]``, as in evalplus)."""
    try:
        return _decode(data, 0)
    except EncodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            RecursionError, MemoryError) as exc:
        raise EncodeError(f"malformed tagged value ({type(exc).__name__})") from None


def _decode(data: Any, depth: int) -> Any:
    if depth > DECODE_DEPTH:
        raise EncodeError("value nested too deeply")
    if isinstance(data, list):
        return [_decode(v, depth + 1) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) != 1:
        raise EncodeError("malformed tagged value")
    ((tag, body),) = data.items()
    handler = _TAGS.get(tag)
    if handler is None:
        raise EncodeError(f"unknown tag {str(tag)[:20]!r}")
    return handler(body, depth + 1)


def _items(body: Any, depth: int) -> list[Any]:
    if not isinstance(body, list):
        raise EncodeError("malformed tagged value")
    return [_decode(v, depth) for v in body]


def flooded(items: list[Any]) -> bool:
    """Whether so many of ``items`` share a hash that a set or dict of them is quadratic to
    build (hash flooding; raises TypeError for an unhashable item)."""
    return len(items) >= FLOOD_MIN and 2 * len(set(map(hash, items))) < len(items)


def _unflooded(items: list[Any]) -> list[Any]:
    if flooded(items):
        raise EncodeError("hash-colliding keys")
    return items


def _dict(body: Any, depth: int) -> dict[Any, Any]:
    pairs = [_items(p, depth) for p in _items_raw(body)]
    if any(len(p) != 2 for p in pairs):
        raise EncodeError("malformed tagged value")
    keys = _unflooded([k for k, _ in pairs])
    return dict(zip(keys, (v for _, v in pairs), strict=True))


def _items_raw(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise EncodeError("malformed tagged value")
    return body


def _float_tag(body: Any, depth: int) -> float:
    if body == "nan":
        return float("nan")
    return _FLOATS[body] if isinstance(body, str) else _FLOATS[""]


def _complex(body: Any, depth: int) -> complex:
    real, imag = _items(body, depth)
    if not all(type(x) in (int, float) for x in (real, imag)):
        raise EncodeError("malformed complex")
    return complex(real, imag)


def _str(body: Any) -> str:
    if not isinstance(body, str):
        raise EncodeError("malformed tagged value")
    return body


def _digest(body: Any, depth: int) -> Digest:
    hexdigest, size = _items_raw(body)
    if type(size) is not int:
        raise EncodeError("malformed digest")
    return Digest(_str(hexdigest), size)


_TAGS: dict[str, Any] = {
    "$t": lambda b, d: tuple(_items(b, d)),
    "$s": lambda b, d: set(_unflooded(_items(b, d))),
    "$fs": lambda b, d: frozenset(_unflooded(_items(b, d))),
    "$d": _dict,
    "$c": _complex,
    "$i": lambda b, d: int(_str(b), 16),
    "$f": _float_tag,
    "$b": lambda b, d: base64.b64decode(_str(b)),
    "$o": lambda b, d: Opaque(_str(b)[:100]),
    "$h": _digest,
    "$x": lambda b, d: Opaque(f"oversized output (weight > {int(b) if type(b) is int else '?'})"),
}


# ------------------------------------------------------------------ the size of a value
#
# A program can return a value whose *logical* size is astronomical while its memory is small
# (``x = [x] * 10`` forty times: shared references). evalplus compares such a value with ``==``
# in C and moves on; encoding or digesting it here would walk every path. ``weight`` measures a
# value in a way ``==`` preserves exactly (equal values have equal weights: same lengths of
# every container and string), so a value heavier than every expected output of its group,
# with a margin, cannot equal any of them, and the runner reports it as oversized instead.

SCALARS = frozenset({int, float, bool, complex, type(None)})
_SEQUENCES = frozenset({list, tuple, set, frozenset})
_CHUNK = 1 << 16


def weight(value: Any, cap: int = -1) -> int:
    """Sum of the lengths of every container and string/bytes in ``value`` (a dict counts its
    keys and values); numbers weigh 0. With ``cap >= 0`` the walk stops as soon as the weight
    exceeds it (the result is then > cap). Walks in chunks with C-level bulk operations (a
    million small tuples cost a few ``map`` calls, not a million Python steps); memory stays
    O(depth x chunk)."""
    total = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack and not 0 <= cap < total:
        part = list(itertools.islice(stack[-1], _CHUNK))
        if not part:
            stack.pop()
            continue
        kinds = set(map(type, part))
        buckets = {kinds.pop(): part} if len(kinds) == 1 else _by_type(part)
        for t, items in buckets.items():
            if t in SCALARS:
                continue
            if t is str or t is bytes or t is bytearray:
                total += sum(map(len, items))
            elif t in _SEQUENCES:
                total += sum(map(len, items))
                stack.append(itertools.chain.from_iterable(items))
            elif t is dict:
                total += 2 * sum(map(len, items))
                stack.append(itertools.chain.from_iterable(
                    itertools.chain.from_iterable(map(dict.items, items))))
            else:  # subclasses of builtins: through the builtin's own methods, one by one
                children: list[Any] = []
                total += sum(_sub_weight(x, children) for x in items)
                stack.append(iter(children))
    return total


def _by_type(part: list[Any]) -> dict[type, list[Any]]:
    buckets: dict[type, list[Any]] = {}
    for x in part:
        buckets.setdefault(type(x), []).append(x)
    return buckets


def _sub_weight(x: Any, level: list[Any]) -> int:
    """Weight of a builtin subclass instance itself; its elements go onto ``level``."""
    if isinstance(x, str):
        return str.__len__(x)
    if isinstance(x, (bytes, bytearray)):
        return bytes.__len__(x) if isinstance(x, bytes) else bytearray.__len__(x)
    if isinstance(x, dict):
        pairs = list(dict.items(x))
        level.extend(itertools.chain.from_iterable(pairs))
        return 2 * len(pairs)
    base: Any = next((b for b in (list, tuple, set, frozenset) if isinstance(x, b)), None)
    if base is None:
        return 0
    items = list(base.__iter__(x))
    level.extend(items)
    return len(items)
