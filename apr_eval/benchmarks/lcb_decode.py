"""Safe decoding of LiveCodeBench test fields. Never executes pickle code.

``private_test_cases`` in ``livecodebench/code_generation_lite`` is either JSON text or
``base64(zlib(pickle(str)))`` where the pickled object is one ``str`` holding JSON. lcb_runner
calls ``pickle.loads`` on it, which runs whatever ``GLOBAL``/``REDUCE`` opcodes the bytes carry.
Here the opcode stream is checked against a whitelist first (``pickletools.genops`` only parses,
it executes nothing), and then the string is read by a small interpreter of those five opcodes,
so ``pickle`` itself is never asked to load anything.
"""

from __future__ import annotations

import base64
import binascii
import json
import pickletools
import zlib
from dataclasses import dataclass
from typing import Any

from apr_eval.errors import DataError

# Opcodes a pickled ``str`` (protocols 2-5) is made of; anything else is refused.
ALLOWED_OPCODES = frozenset(
    {"PROTO", "FRAME", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "MEMOIZE", "PUT",
     "BINPUT", "LONG_BINPUT", "STOP"}
)
STRING_OPCODES = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"})
MAX_DECOMPRESSED = 1 << 31  # 2 GiB: the largest upstream field is a few hundred MB


@dataclass(frozen=True)
class TestCase:
    input: str
    output: str
    testtype: str  # "stdin" | "functional"


def unpickle_str(data: bytes, where: str = "test field") -> str:
    """The ``str`` a pickle holds, refusing every opcode that could build or call anything."""
    try:
        ops = [(op.name, arg) for op, arg, _pos in pickletools.genops(data)]
    except (ValueError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: corrupt pickle ({exc})") from None
    refused = sorted({name for name, _ in ops} - ALLOWED_OPCODES)
    if refused:
        raise DataError(f"{where}: refused pickle opcode {', '.join(refused)} (only a pickled "
                        "str is accepted; this data could execute code)")
    strings = [arg for name, arg in ops if name in STRING_OPCODES]
    if len(strings) > 1:
        raise DataError(f"{where}: pickle holds more than one string")
    value = str(strings[0]) if strings else None
    if value is None:
        raise DataError(f"{where}: pickle holds no string")
    return value


def decode_compressed(text: str, where: str = "private_test_cases") -> str:
    """``base64 -> zlib -> pickle(str)`` to the JSON text inside, safely."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise DataError(f"{where}: not JSON and not base64 ({exc})") from None
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, MAX_DECOMPRESSED)
        if inflater.unconsumed_tail:
            raise DataError(f"{where}: decompressed size over {MAX_DECOMPRESSED} bytes")
    except zlib.error as exc:
        raise DataError(f"{where}: not JSON and not zlib data ({exc})") from None
    return unpickle_str(data, where)


def parse_tests(field: Any, where: str = "test field") -> list[TestCase]:
    """A ``public_test_cases``/``private_test_cases`` value -> test cases (JSON or compressed)."""
    if isinstance(field, list):
        items: Any = field
    elif isinstance(field, str):
        try:
            items = json.loads(field)
        except ValueError:
            try:
                items = json.loads(decode_compressed(field, where))
            except ValueError as exc:
                raise DataError(f"{where}: decoded text is not JSON ({exc})") from None
    else:
        raise DataError(f"{where}: expected a string, got {type(field).__name__}")
    if not isinstance(items, list):
        raise DataError(f"{where}: expected a list of tests, got {type(items).__name__}")
    return [_test(t, f"{where}[{i}]") for i, t in enumerate(items)]


def _test(item: Any, where: str) -> TestCase:
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected an object with input/output/testtype")
    try:
        inp, out, kind = item["input"], item["output"], item["testtype"]
    except KeyError as exc:
        raise DataError(f"{where}: missing key {exc}") from None
    if not isinstance(inp, str) or not isinstance(out, str) or kind not in ("stdin",
                                                                             "functional"):
        raise DataError(f"{where}: input/output must be strings and testtype stdin|functional")
    return TestCase(inp, out, kind)


def encode_compressed(tests_json: str, protocol: int = 4) -> str:
    """The upstream encoding of a JSON text (for tests and fixtures); pickles only a ``str``."""
    import pickle

    return base64.b64encode(zlib.compress(pickle.dumps(tests_json, protocol=protocol))).decode()
