"""A small pure-Python reader for GGUF headers (metadata key/values and tensor shapes).

It reads only the header, never the weights, so describing a 1 GB model takes milliseconds.
Large arrays (the tokenizer's vocabulary) are skipped, not decoded. Format reference:
https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from apr_eval.errors import UsageError

MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
# Arrays longer than this are recorded by length only (tokenizer vocabularies, merges).
_MAX_ARRAY_ITEMS = 64

# GGUF value types -> struct format (scalars); 8 = string, 9 = array.
_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9

# llama.cpp's ``llama_ftype`` (the ``general.file_type`` key) -> quantization name.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}


@dataclass(frozen=True)
class SkippedArray:
    """A long array left undecoded; only its element type and length are kept."""

    item_type: int
    length: int


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensor_count: int = 0
    parameters: int = 0  # sum over tensors of the product of their dimensions
    data_offset: int = 0  # where tensor data starts
    file_size: int = 0

    def get_str(self, key: str) -> str:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else ""

    @property
    def architecture(self) -> str:
        return self.get_str("general.architecture")

    @property
    def chat_template(self) -> str:
        return self.get_str("tokenizer.chat_template")

    @property
    def quantization(self) -> str:
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, int):
            return FILE_TYPES.get(file_type, f"file_type {file_type}")
        return ""

    @property
    def bits_per_weight(self) -> float | None:
        """Effective bits per weight: tensor data bytes * 8 / parameters."""
        if not self.parameters or self.file_size <= self.data_offset:
            return None
        return round((self.file_size - self.data_offset) * 8 / self.parameters, 2)

    @property
    def base_model(self) -> str:
        """The base model's name where the metadata declares one, else the model's own name."""
        for key in ("general.base_model.0.name", "general.basename", "general.name"):
            if value := self.get_str(key):
                return value
        return ""


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def take(self, size: int) -> bytes:
        data = self._stream.read(size)
        if len(data) != size:
            raise ValueError("truncated header")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.unpack("<Q")
        if length > 1 << 28:
            raise ValueError("implausible string length")
        return self.take(length).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self._stream.seek(self.unpack("<Q"), 1)

    def value(self, value_type: int) -> Any:
        if value_type in _SCALARS:
            return self.unpack(_SCALARS[value_type])
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            return self.array()
        raise ValueError(f"unknown value type {value_type}")

    def array(self) -> list[Any] | SkippedArray:
        item_type, length = self.unpack("<I"), self.unpack("<Q")
        if length <= _MAX_ARRAY_ITEMS:
            return [self.value(item_type) for _ in range(length)]
        if item_type in _SCALARS:
            self._stream.seek(struct.calcsize(_SCALARS[item_type]) * length, 1)
        elif item_type == _STRING:
            for _ in range(length):
                self.skip_string()
        else:
            for _ in range(length):
                self.value(item_type)
        return SkippedArray(item_type, length)

    def tell(self) -> int:
        return self._stream.tell()


def _tensor_parameters(reader: _Reader, count: int) -> int:
    total = 0
    for _ in range(count):
        reader.skip_string()
        n_dims = reader.unpack("<I")
        size = 1
        for _ in range(n_dims):
            size *= reader.unpack("<Q")
        reader.take(12)  # ggml type (u32) + offset (u64)
        total += size
    return total


def read_header(path: Path) -> GGUFHeader:
    """Parse ``path``'s GGUF header; ``UsageError`` (one line) when it is not a GGUF file."""
    try:
        with path.open("rb") as stream:
            if stream.read(4) != MAGIC:
                raise UsageError(f"{path} is not a GGUF model file (no GGUF magic bytes)")
            reader = _Reader(stream)
            version = reader.unpack("<I")
            tensor_count, kv_count = reader.unpack("<Q"), reader.unpack("<Q")
            metadata = {}
            for _ in range(kv_count):
                key = reader.string()
                metadata[key] = reader.value(reader.unpack("<I"))
            parameters = _tensor_parameters(reader, tensor_count)
            alignment = metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
            offset = reader.tell()
            offset += (-offset) % int(alignment)
    except (ValueError, struct.error, UnicodeDecodeError) as err:
        raise UsageError(f"{path} is not a valid GGUF model file ({err})") from None
    except OSError as err:
        raise UsageError(f"cannot read model file {path}: {err.strerror or err}") from None
    return GGUFHeader(path=path, version=version, metadata=metadata, tensor_count=tensor_count,
                      parameters=parameters, data_offset=offset,
                      file_size=path.stat().st_size)
