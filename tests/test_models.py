"""Model resolution, the embedded-model cache and the GGUF header reader (no real model)."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest
from gguf_writer import write_gguf

from apr_eval.errors import DataError, UsageError
from apr_eval.harness.generation import gguf, models


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("APR_EVAL_CACHE", str(cache))
    return cache


def test_reads_gguf_header(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf")
    header = gguf.read_header(path)
    assert header.architecture == "qwen2"
    assert header.quantization == "Q4_K_M"
    assert header.chat_template == "{{ messages }}"
    assert header.parameters == 4 * 8 + 8
    assert header.bits_per_weight == round(64 * 8 / 40, 2)
    assert isinstance(header.metadata["tokenizer.ggml.tokens"], gguf.SkippedArray)
    info = models.describe(path)
    assert info.name == "Tiny Coder" and info.base_model == "Tiny-Base"
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.parameters == 40 and info.architecture == "qwen2"


def test_header_without_template_and_other_quant(tmp_path: Path) -> None:
    header = gguf.read_header(write_gguf(tmp_path / "m.gguf", chat_template=None, file_type=1))
    assert header.chat_template == "" and header.quantization == "F16"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 a zip file", b"GGUF\x03\x00\x00\x00\x01"])
def test_not_gguf_is_one_line_usage_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(UsageError) as err:
        gguf.read_header(path)
    assert "GGUF" in str(err.value) and "\n" not in str(err.value)


def test_missing_model_path() -> None:
    with pytest.raises(UsageError, match=r"model file not found: /nowhere/x\.gguf"):
        models.resolve_model("/nowhere/x.gguf")


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a file"):
        models.resolve_model(str(tmp_path))


def _fake_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   chunks: list[bytes], sha: str | None = None) -> models.EmbeddedModel:
    names = []
    for i, chunk in enumerate(chunks):
        part = tmp_path / f"part{i}.bin"
        part.write_bytes(chunk)
        module = types.ModuleType(f"fake_model_part{i}")
        module.get_part_path = lambda p=part: str(p)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
        names.append(module.__name__)
    whole = b"".join(chunks)
    model = models.EmbeddedModel(alias="tiny", filename="tiny.gguf",
                                 sha256=sha or hashlib.sha256(whole).hexdigest(), size=len(whole),
                                 parts=tuple(names), packages="fake-model-parts",
                                 lineage="tiny test model")
    monkeypatch.setitem(models.EMBEDDED, "tiny", model)
    return model


def test_embedded_model_assembled_once_and_verified(tmp_path: Path, _cache: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    whole = write_gguf(tmp_path / "src.gguf").read_bytes()
    _fake_embedded(tmp_path, monkeypatch, [whole[:50], whole[50:120], whole[120:]])
    path = models.resolve_model("tiny")
    assert path == _cache / "models" / "tiny.gguf"
    assert path.read_bytes() == whole
    assert models.describe(path, name="tiny").lineage == "tiny test model"

    hashed: list[Path] = []
    real = models.sha256_file
    monkeypatch.setattr(models, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert models.resolve_model("tiny") == path
    assert hashed == []  # remembered: no re-hash while size and mtime are unchanged

    path.write_bytes(whole[:-1] + b"X")  # corrupted in the cache: rebuilt from the parts
    assert models.resolve_model("tiny").read_bytes() == whole
    assert hashed  # the changed file was hashed again


def test_embedded_model_with_wrong_hash_is_refused(tmp_path: Path, _cache: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_embedded(tmp_path, monkeypatch, [b"GGUF", b"rest"], sha="0" * 64)
    with pytest.raises(DataError, match="does not match its pin"):
        models.resolve_model("tiny")
    assert not list((_cache / "models").glob("*tiny*"))  # no partial file left behind


def test_embedded_model_not_installed_names_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    model = models.EmbeddedModel(alias="absent", filename="absent.gguf", sha256="0" * 64, size=1,
                                 parts=("no_such_part_module_1",), packages="absent-part1==1")
    monkeypatch.setitem(models.EMBEDDED, "absent", model)
    with pytest.raises(UsageError, match=r"not installed .*pip install absent-part1==1"):
        models.resolve_model("absent")


def test_second_embedded_alias_is_known() -> None:
    assert models.EMBEDDED["qwen2.5-coder-1.5b"].size == 1_117_320_768
    assert len(models.EMBEDDED["qwen2.5-coder-1.5b"].parts) == 22
    assert models.DEFAULT_MODEL in models.EMBEDDED


def test_hub_file_is_downloaded_into_the_cache_and_pinned(
        tmp_path: Path, _cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    source = write_gguf(tmp_path / "hub.gguf")
    calls: list[tuple[str, str, str]] = []

    def download(repo_id: str, filename: str, cache_dir: str) -> str:
        calls.append((repo_id, filename, cache_dir))
        return str(source)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert models.resolve_model(f"hf:Qwen/Some-GGUF/q4.gguf#sha256={digest}") == source
    assert calls == [("Qwen/Some-GGUF", "q4.gguf", str(_cache / "models" / "hub"))]
    with pytest.raises(DataError, match="does not match its pinned sha256"):
        models.resolve_model(f"hf:Qwen/Some-GGUF/q4.gguf#sha256={'0' * 64}")
    with pytest.raises(UsageError, match=r"use hf:OWNER/REPO/FILE\.gguf"):
        models.resolve_model("hf:Qwen/only-repo")


def test_gguf_conversion_needs_its_packages_and_is_done_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from apr_eval.harness.generation import convert

    path = write_gguf(tmp_path / "m.gguf")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UsageError, match="pip install transformers torch gguf accelerate"):
        convert.convert_gguf(str(path), tmp_path / "hf")
    done = tmp_path / "done"
    done.mkdir()
    (done / models.SOURCE_MARKER).write_text(json.dumps(
        {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))
    assert convert.convert_gguf(str(path), done) == done  # no torch needed: already there
