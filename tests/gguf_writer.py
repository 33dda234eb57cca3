"""Writes small, well-formed GGUF files for tests (no real weights)."""

from __future__ import annotations

import struct
from pathlib import Path


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _kv(key: str, kind: int, value: object) -> bytes:
    head = _string(key) + struct.pack("<I", kind)
    if kind == 8:
        return head + _string(str(value))
    if kind == 4:
        return head + struct.pack("<I", value)
    if kind == 9:  # array of strings
        items = list(value)  # type: ignore[call-overload]
        return head + struct.pack("<IQ", 8, len(items)) + b"".join(_string(s) for s in items)
    raise AssertionError(kind)


def write_gguf(path: Path, chat_template: str | None = "{{ messages }}", file_type: int = 15,
               tensors: tuple[tuple[int, ...], ...] = ((4, 8), (8,)),
               data_bytes: int = 64) -> Path:
    """A small but well-formed GGUF v3 file (header, tensor infos, aligned data)."""
    kvs = [_kv("general.architecture", 8, "qwen2"), _kv("general.name", 8, "Tiny Coder"),
           _kv("general.basename", 8, "Tiny-Base"), _kv("general.file_type", 4, file_type),
           _kv("tokenizer.ggml.tokens", 9, [f"t{i}" for i in range(100)])]
    if chat_template is not None:
        kvs.append(_kv("tokenizer.chat_template", 8, chat_template))
    infos = b"".join(_string(f"w{i}") + struct.pack("<I", len(dims))
                     + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", 0, 0)
                     for i, dims in enumerate(tensors))
    body = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    body += b"\0" * ((-len(body)) % 32)
    path.write_bytes(body + b"\1" * data_bytes)
    return path
