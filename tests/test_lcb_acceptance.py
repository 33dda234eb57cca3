"""One model's 167 programs with lcb_runner's official verdicts (public + hidden tests), re-run
here on the public tests: no contradiction allowed.

- every program we fail is ``False`` upstream;
- every program upstream failed on a public-test input (its metadata names the input, or it
  failed before any test) fails here on that same test with the same error code.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lcb_support import SAMPLES, run_local

from apr_eval.benchmarks.lcb_compare import error_code, truncate
from apr_eval.benchmarks.livecodebench import LiveCodeBench
from apr_eval.core import Execution, SandboxLimits, Verdict


def official_public_failure(row: dict[str, Any], inputs: tuple[Any, ...]) -> int | None:
    """Index of the public test upstream failed on (-1: before any test), else None."""
    if row["graded_list"][0]:
        return None
    meta = json.loads(row["metadata"][0])
    if "inputs" not in meta:
        return -1
    keys = [truncate(x) for x in inputs]
    return keys.index(meta["inputs"]) if meta["inputs"] in keys else None


@pytest.fixture(scope="module", params=["runner", pytest.param("docker", marks=pytest.mark.docker)])
def graded(request: pytest.FixtureRequest, shared_data: Path
           ) -> list[tuple[dict[str, Any], Execution, tuple[Any, ...]]]:
    assert SAMPLES.is_relative_to(shared_data)
    bench = LiveCodeBench()
    problems = {p.problem_id: p for p in bench.load()}
    rows = json.loads(SAMPLES.read_text())
    checks = [bench.build_check(problems[r["question_id"]], r["code_list"][0], 0,
                                SandboxLimits()) for r in rows]
    if request.param == "docker":  # the real sandbox: DockerExecutor, image of this runner
        request.getfixturevalue("docker_ready")
        from apr_eval.sandbox.docker_executor import DockerExecutor

        by_key = {e.key: e for e in DockerExecutor().run(checks, SandboxLimits(workers=2))}
        executions = [by_key[c.job.key] for c in checks]
    else:  # the same runner as local subprocesses
        executions = run_local(checks, workers=2)
    return [(r, e, c.job.groups[0].inputs)
            for r, e, c in zip(rows, executions, checks, strict=True)]


def test_no_contradictions(graded: list[tuple[dict[str, Any], Execution, tuple[Any, ...]]]
                           ) -> None:
    assert len(graded) == 167
    tally: Counter[str] = Counter()
    for row, e, inputs in graded:
        official = row["graded_list"][0]
        if official:
            assert e.verdict is Verdict.PASSED, (row["question_id"], e)
            tally["both pass"] += 1
            continue
        where = official_public_failure(row, inputs)
        if where is None:
            tally["fail here (input mutated)" if not e.verdict.passed else
                  "pass public, fail hidden"] += 1
            if not e.verdict.passed:  # upstream shows the input after the program mutated it
                meta = json.loads(row["metadata"][0])
                assert e.failing is not None
                assert truncate(e.failing.expected) == meta["expected"], row["question_id"]
            continue
        meta = json.loads(row["metadata"][0])
        assert not e.verdict.passed, row["question_id"]
        # The sandbox caps memory and lcb_runner does not: a program whose memory grows until
        # upstream's time limit (-3) can hit the container's cap first (our OOM).
        same = error_code(e.verdict) == meta["error_code"] or (
            e.verdict is Verdict.OOM and meta["error_code"] == -3)
        assert same, (row["question_id"], e, meta)
        if where >= 0:
            assert e.failing is not None and e.failing.index == where, row["question_id"]
        tally[f"fail public (code {meta['error_code']})"] += 1
    print(dict(tally))
    assert tally["both pass"] == sum(r["graded_list"][0] for r, _, _ in graded)
