"""`apr-eval nightly` with the real llama.cpp backend and the embedded model (marker: model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

CONFIG = """\
results_dir = "results"
executor = "toyexec"
[defaults]
prompt_style = "completion"
[defaults.sampling]
max_tokens = 24
[[benchmarks]]
name = "toyplus"
options = { size = 2 }
[[models]]
name = "qwen-small"
backend = "llamacpp"
model = "qwen2.5-coder-0.5b"
[models.options]
n_threads = 1
"""


def nightly(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    return subprocess.run(
        [sys.executable, "-c", "import nightly_support; nightly_support.main()",
         "nightly", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.model
def test_real_model_run_then_up_to_date(tmp_path: Path) -> None:
    config = tmp_path / "nightly.toml"
    config.write_text(CONFIG)
    first = nightly(config)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "qwen-small x toyplus: ran" in first.stdout
    (run,) = (tmp_path / "results").glob("qwen-small-toyplus-*")
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(manifest["model"]["sha256"]) == 64  # the real model's identity is recorded
    assert manifest["extra"]["nightly"] == {"name": "qwen-small"}
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    second = nightly(config)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "qwen-small x toyplus: up to date" in second.stdout
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
