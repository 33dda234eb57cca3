"""Bad nightly configs: one line naming the place in the file, exit 2, before any model loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from nightly_support import nightly_toml, register

from apr_eval.cli import entrypoint
from apr_eval.core import SamplingParams
from apr_eval.harness.generation.backends.base import BACKENDS
from apr_eval.harness.regression.nightly_config import load_config
from apr_eval.harness.regression.places import Place, locate

ENTERED: list[str] = []


class SpyBackend:
    """Records every model load; options are accepted as they come."""

    name = "spy"

    def __init__(self, model: str) -> None:
        self.model = model

    @classmethod
    def from_options(cls, model: str, options: Any) -> SpyBackend:
        return cls(model)

    def __enter__(self) -> SpyBackend:
        ENTERED.append(self.model)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


@pytest.fixture(autouse=True)
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from apr_eval.benchmarks.base import BENCHMARKS
    from apr_eval.sandbox.executor import EXECUTORS

    for registry in (BACKENDS, BENCHMARKS, EXECUTORS):
        monkeypatch.setattr(registry, "_targets", dict(registry._targets))
        monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
    register()
    BACKENDS.register("spy", "test_nightly_config:SpyBackend")
    ENTERED.clear()
    yield


GOOD = """\
results_dir = "out"
executor = "toyexec"
max_drop = 2

[defaults]
prompt_style = "completion"
[defaults.sampling]
n = 1
max_tokens = 256

[[benchmarks]]
name = "toyplus"
options = { size = 4 }
[benchmarks.sampling]
max_tokens = 512

[[models]]
name = "first"
backend = "spy"
model = "spy-model"

[[models]]
name = "second"
backend = "spy"
model = "other"
benchmarks = ["toyplus"]
[models.sampling]
temperature = 0.5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nightly.toml"
    path.write_text(text)
    return path


def fail_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> str:
    path = write(tmp_path, text)
    try:
        code = entrypoint(["nightly", "--config", str(path)])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert ENTERED == []  # nothing was loaded
    assert not (tmp_path / "out").exists()  # nothing was run
    return lines[0]


def test_good_config_resolves_precedence(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.results_dir == tmp_path / "out"
    assert config.max_drop == 2.0 and config.executor == "toyexec"
    first, second = config.cells()
    # defaults < benchmark < model
    assert first.sampling == SamplingParams(n=1, max_tokens=512)
    assert second.sampling == SamplingParams(n=1, max_tokens=512, temperature=0.5)
    assert first.prompt_style == "completion"


def test_unknown_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace('name = "second"\nbackend = "spy"', 'name = "second"\nbackend = "fkae"')
    line = fail_line(tmp_path, capsys, text)
    assert line.startswith("apr-eval: error: nightly.toml:24: [[models]][2].backend: "
                           "unknown backend 'fkae' (did you mean 'fake'?)"), line


def test_typo_in_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = fail_line(tmp_path, capsys, GOOD.replace("temperature = 0.5", "temprature = 0.5"))
    assert ("nightly.toml:28: [[models]][2].sampling.temprature: unknown key "
            "(did you mean 'temperature'?)") in line, line
    line = fail_line(tmp_path, capsys, GOOD.replace('model = "other"', 'modle = "other"'))
    assert "nightly.toml:25: [[models]][2].modle: unknown key (did you mean 'model'?)" in line
    line = fail_line(tmp_path, capsys, GOOD.replace("max_drop = 2", "max_dorp = 2"))
    assert "nightly.toml:3: max_dorp: unknown key (did you mean 'max_drop'?)" in line


def test_missing_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace('model = "other"', 'model = "models/qwen-q4.gguf"')
    line = fail_line(tmp_path, capsys, text)
    assert (f"nightly.toml:25: [[models]][2].model: model file not found: "
            f"{tmp_path / 'models' / 'qwen-q4.gguf'}") in line, line


def test_existing_model_file_is_accepted_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "q.gguf").write_bytes(b"GGUF")
    config = load_config(write(tmp_path, GOOD.replace('model = "other"',
                                                      'model = "models/q.gguf"')))
    assert config.models[1].model == str(tmp_path / "models" / "q.gguf")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('name = "toyplus"', 'name = "toyplu"',
     "nightly.toml:12: [[benchmarks]][1].name: unknown benchmark 'toyplu' "
     "(did you mean 'toyplus'?)"),
    ("n = 1", "n = 0", "nightly.toml:8: defaults.sampling.n: expected an integer >= 1, got 0"),
    ('executor = "toyexec"', 'executor = "dokcer"',
     "nightly.toml:2: executor: unknown executor 'dokcer' (did you mean 'docker'?)"),
    ('benchmarks = ["toyplus"]', 'benchmarks = ["humaneval"]',
     "nightly.toml:26: [[models]][2].benchmarks[1]: unknown benchmark entry 'humaneval'"),
    ('prompt_style = "completion"', 'prompt_style = "instruct"',
     "nightly.toml:6: defaults.prompt_style: unknown prompt style 'instruct'"),
    ('name = "second"', 'name = "first"',
     "nightly.toml:23: [[models]][2].name: duplicate name 'first'"),
    ("max_drop = 2", "max_drop = true",
     "nightly.toml:3: max_drop: expected a number >= 0 (pp), got True"),
    ("max_drop = 2", "max_drop = [", "nightly.toml: not valid TOML: "),
])
def test_other_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str,
                        expected: str) -> None:
    assert old in GOOD
    assert expected in fail_line(tmp_path, capsys, GOOD.replace(old, new, 1))


def test_backend_validates_its_own_options(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    text = nightly_toml(tmp_path / "out", [{"name": "m"}], size=2)
    text = text.replace("[models.options.responses]", 'respones = 1\n[models.options.responses]')
    line = fail_line(tmp_path, capsys, text)
    assert "[[models]][1].options: fake backend: unknown option(s) respones" in line, line


def test_bad_benchmark_version_is_caught_before_models(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The benchmark itself is opened in a preflight, still before any model is loaded."""
    text = GOOD.replace('name = "toyplus"', 'name = "toyplus"\nversion = "9"')
    line = fail_line(tmp_path, capsys, text)
    assert "nightly.toml:11: [[benchmarks]][1]: toyplus has no version '9'" in line, line


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = entrypoint(["nightly", "--config", str(tmp_path / "nope.toml")])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "cannot read the config" in capsys.readouterr().err


def test_locate_handles_inline_tables_and_subtables() -> None:
    text = GOOD + '\n[[models]]\nname = "third"\nsampling = { n = 0 }\n'
    second = Place.array("models", 1)  # entries are shown (and located) counting from 1
    assert second.child("sampling").child("n").text() == "[[models]][2].sampling.n"
    assert locate(text, second.child("sampling").child("n")) == 27  # the [models.sampling]
    assert locate(text, second.child("sampling").child("temperature")) == 28
    assert locate(text, Place.array("models", 2).child("sampling").child("n")) == 32  # inline
    assert locate(text, Place(("defaults",)).child("sampling").child("n")) == 8
    assert Place(("defaults",)).child("a b").text() == 'defaults."a b"'
