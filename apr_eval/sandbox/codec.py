"""Tagged JSON for values crossing the sandbox boundary (never pickle).

Stdlib only: this file is also copied into the sandbox image and imported by the runner.

Plain JSON keeps ``None``, ``bool``, ``int``, ``str`` and finite ``float``; everything else is a
one-key object: ``{"$t": [...]}`` tuple, ``{"$s": [...]}`` set, ``{"$fs": [...]}`` frozenset,
``{"$d": [[k, v], ...]}`` dict, ``{"$c": [re, im]}`` complex, ``{"$f": "nan"|"inf"|"-inf"}``,
``{"$b": "<base64>"}`` bytes, ``{"$i": "0x..."}`` huge int, ``{"$o": "TypeName"}`` anything
else. An ``$o`` value decodes to an
:class:`Opaque`, which equals nothing: a program cannot pass by returning an object whose
``__eq__`` lies. Subclasses of builtins are encoded through the builtin's own methods, so an
overridden ``__eq__``/``__iter__``/``__str__`` is never consulted.
"""

from __future__ import annotations

import base64
import math
from typing import Any

MAX_DEPTH = 100


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
    return {"$o": type(value).__name__[:100]}


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode(data: Any) -> Any:
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) != 1:
        raise EncodeError("malformed tagged value")
    ((tag, body),) = data.items()
    if tag == "$t":
        return tuple(decode(v) for v in body)
    if tag == "$s":
        return {decode(v) for v in body}
    if tag == "$fs":
        return frozenset(decode(v) for v in body)
    if tag == "$d":
        return {decode(k): decode(v) for k, v in body}
    if tag == "$c":
        return complex(decode(body[0]), decode(body[1]))
    if tag == "$i":
        return int(body, 16)
    if tag == "$f":
        return _FLOATS[body]
    if tag == "$b":
        return base64.b64decode(body)
    if tag == "$o":
        return Opaque(str(body))
    raise EncodeError(f"unknown tag {tag!r}")
