"""Runs judged under different verdict semantics never look comparable (issue: the compile-flag
fix changed verdicts); `apr-eval compare` refuses to pair them unless forced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nightly_support import P, problems, write_run

from apr_eval.cli import entrypoint
from apr_eval.harness.run.manifest import SEMANTICS_VERSION, comparability_key
from apr_eval.harness.run.rundir import MANIFEST, RunDir


def _old_manifest(run: RunDir) -> None:
    """What a run written before the semantics version existed looks like on disk."""
    path = run.path / MANIFEST
    data = json.loads(path.read_text())
    data.pop("semantics")
    path.write_text(json.dumps(data))


def test_runs_before_and_after_the_fix_are_not_comparable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = {p: [(P, P)] for p in problems(5)}
    old = write_run(tmp_path, "old", samples)
    _old_manifest(old)
    new = write_run(tmp_path, "new", samples, semantics=SEMANTICS_VERSION)
    assert old.manifest().semantics == ""
    assert comparability_key(old.manifest()) != comparability_key(new.manifest())
    with pytest.raises(SystemExit) as info:
        entrypoint(["compare", str(old.path), str(new.path)])
    assert info.value.code != 0
    err = capsys.readouterr().err
    assert "semantics" in err and "--force" in err
    code = 0
    try:
        entrypoint(["compare", str(old.path), str(new.path), "--force"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 0
    assert "semantics" in capsys.readouterr().err


def test_new_manifests_record_the_current_semantics(tmp_path: Path) -> None:
    from apr_eval.benchmarks.base import open_benchmark
    from apr_eval.core import SandboxLimits
    from apr_eval.harness.interop.evaluate import EvaluateRequest, open_run
    from apr_eval.harness.interop.samples import Sample

    bench = open_benchmark("humaneval")
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "solution": "pass"}\n')
    req = EvaluateRequest(bench, samples, tmp_path, SandboxLimits(), run_id="r")
    run = open_run(req, [Sample("HumanEval/0", 0, "pass", "pass")], "sha256:x")
    assert run.manifest().semantics == SEMANTICS_VERSION != ""
