"""The shipped example config and the docs stay true to the code."""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apr_eval.harness.generation.backends.base import BACKENDS
from apr_eval.harness.regression.nightly_config import load_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "nightly.toml"
DOCS = ROOT / "docs" / "nightly.md"
SEEN: list[tuple[str, dict[str, Any]]] = []


class OptionsSpy:
    """Stands in for llamacpp (whose from_options reads a real GGUF header)."""

    name = "llamacpp"

    @classmethod
    def from_options(cls, model: str, options: Any) -> OptionsSpy:
        SEEN.append((model, dict(options)))
        return cls()


@pytest.fixture
def spy_llamacpp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(BACKENDS, "_targets", dict(BACKENDS._targets))
    monkeypatch.setattr(BACKENDS, "_loaded", dict(BACKENDS._loaded))
    BACKENDS.register("llamacpp", "test_nightly_docs:OptionsSpy")
    SEEN.clear()
    yield


def uncommented(text: str) -> str:
    """The example with its commented fine-tune entries switched on."""
    start = text.index("# The checkpoint that changes every night")
    end = text.index("# A model behind an OpenAI-compatible server")
    block = "\n".join(line[2:] if line.startswith("# [") or (line.startswith("# ")
                      and "=" in line.split("#")[1]) else line
                      for line in text[start:end].split("\n"))
    return text[:start] + block + text[end:]


def test_shipped_examples_pass_check_on_a_fresh_clone() -> None:
    """Every examples/*.toml validates as shipped: no file it names is missing."""
    from apr_eval.cli import entrypoint

    for path in sorted((ROOT / "examples").glob("*.toml")):
        try:
            entrypoint(["nightly", "--config", str(path), "--check"])
        except SystemExit as exc:
            assert exc.code == 0, path


def test_example_config_is_valid(tmp_path: Path, spy_llamacpp: None) -> None:
    config_path = tmp_path / "examples" / "nightly.toml"
    config_path.parent.mkdir()
    config_path.write_text(uncommented(EXAMPLE.read_text()))
    models = config_path.parent / "models"
    models.mkdir()
    for name in ("my-finetune-f16.gguf", "my-finetune-q4_k_m.gguf"):
        (models / name).write_bytes(b"GGUF")
    config = load_config(config_path)
    assert config.results_dir == config_path.parent / "../results"
    cells = [(c.model.name, c.benchmark.name) for c in config.cells()]
    assert len(cells) == 3 + 2 + 2
    by_cell = {(c.model.name, c.benchmark.name): c for c in config.cells()}
    q4 = by_cell[("my-finetune-q4", "humaneval")]
    assert q4.baseline == "latest:my-finetune-f16:humaneval"
    assert by_cell[("qwen2.5-coder-0.5b", "livecodebench")].sampling.max_tokens == 2048
    assert by_cell[("qwen2.5-coder-0.5b", "humaneval")].sampling.max_tokens == 768
    assert SEEN[1][0] == str(models / "my-finetune-f16.gguf")
    # The options are ones the real llamacpp backend knows, where it is installed here.
    try:
        module = importlib.import_module("apr_eval.harness.generation.backends.llamacpp")
    except ImportError:
        return
    option_types = [v for v in vars(module).values()
                    if dataclasses.is_dataclass(v) and v.__name__.endswith("Options")]
    if option_types:
        known = {f.name for f in dataclasses.fields(option_types[0])}
        for _, options in SEEN:
            assert set(options) <= known


def test_example_config_without_model_files_names_the_place(tmp_path: Path,
                                                            spy_llamacpp: None) -> None:
    config_path = tmp_path / "nightly.toml"
    config_path.write_text(uncommented(EXAMPLE.read_text()))
    with pytest.raises(Exception, match=r"nightly\.toml:\d+: \[\[models\]\]\[2\]\.model: "
                                        r"model file not found: .*my-finetune-f16\.gguf"):
        load_config(config_path)


def test_options_in_docs_exist() -> None:
    from apr_eval.cli.compare import compare, nightly
    from apr_eval.cli.plan import plan

    known = {opt for cmd in (compare, nightly, plan) for p in cmd.params
             for opt in getattr(p, "opts", [])}
    known.add("--retry-infra-errors")  # `apr-eval execute`'s, named in the infra section
    text = DOCS.read_text()
    used = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
    used -= {"--now"}  # systemctl's, in the scheduling section
    assert {"--max-drop", "--alpha", "--force", "--format", "--check", "--max-infra-share",
            "--delta", "--from", "--flip-correction"} <= used
    assert used <= known, used - known
