"""Helpers for the compare/nightly tests: synthetic run directories (more to come)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from apr_eval.core import Execution, ModelInfo, RunManifest, SamplingParams, Verdict
from apr_eval.harness.run import rundir
from apr_eval.harness.run.rundir import RunDir

P = Verdict.PASSED
F = Verdict.FAILED
T = Verdict.TIMEOUT
E = Verdict.ERROR


def headline(base: Verdict, plus: Verdict) -> Verdict:
    return base if not base.passed else plus


def write_run(results: Path, run_id: str,
              samples: Mapping[str, Sequence[tuple[Verdict, Verdict]]], *,
              model: str | ModelInfo = "model-a", created_at: str = "2026-11-24T00:00:00+00:00",
              n: int | None = None, benchmark: str = "humaneval",
              **overrides: Any) -> RunDir:
    """A run directory whose executions carry (base, plus) group verdicts per sample."""
    n = n or max(len(v) for v in samples.values())
    fields: dict[str, Any] = {
        "run_id": run_id, "benchmark": benchmark, "benchmark_version": "v0.1.10",
        "data_hash": "abc123",
        "model": model if isinstance(model, ModelInfo) else ModelInfo(name=model),
        "created_at": created_at,
        "harness_version": "0.1.0", "backend": "fake",
        "sampling": SamplingParams(n=n, temperature=0.0 if n == 1 else 0.8),
        "prompt_style": "completion", "prompt_preset": "default",
        "sandbox": {"memory_mb": 4096, "pids": 256}, "problems": tuple(samples),
    }
    fields.update(overrides)
    run = RunDir(results / run_id)
    run.write_manifest(RunManifest(**fields))
    rundir.write_jsonl(run.path / rundir.EXECUTIONS, (
        rundir.execution_to_json(Execution(pid, i, headline(base, plus),
                                           {"base": base, "plus": plus}))
        for pid, verdicts in samples.items() for i, (base, plus) in enumerate(verdicts)))
    return run


def problems(count: int) -> list[str]:
    return [f"HumanEval/{i}" for i in range(count)]


# ------------------------------------------------------------------ a toy benchmark + executor
# Problem i asks for ``tp{i}(x) = x * 2``. Groups: base inputs (1, 2), plus inputs (10, 11).
# The toy executor runs the (trusted, test-made) program in-process; a program containing
# "while True" is reported as timed out without running it.


class ToyPlus:
    name = "toyplus"
    version = "1"
    score_names = ("toyplus", "toyplus+")

    def __init__(self, version: str | None = None, path: str | None = None,
                 size: int = 20) -> None:
        if version not in (None, "1", "2"):
            from apr_eval.errors import DataError

            raise DataError(f"toyplus has no version '{version}' (known: 1, 2)")
        self.version = version or "1"
        self.size = size

    @property
    def data_hash(self) -> str:
        return f"toyplus-{self.version}-{self.size}"

    def load(self) -> Sequence[Any]:
        from apr_eval.core import Problem

        return [Problem("toyplus", self.version, f"tp/{i}",
                        f'def tp{i}(x):\n    """Return x * 2."""\n', f"tp{i}")
                for i in range(self.size)]

    def render_prompt(self, problem: Any, style: Any) -> Any:
        from apr_eval.benchmarks.prompts import render_evalplus

        return render_evalplus(problem, style)

    def build_check(self, problem: Any, code: str, sample_index: int, limits: Any) -> Any:
        from apr_eval.core import Check, ExecMode, Job, SampleKey, TestGroup

        groups = (TestGroup("base", ((1,), (2,)), (1.0, 1.0)),
                  TestGroup("plus", ((10,), (11,)), (1.0, 1.0)))
        job = Job(SampleKey(problem.problem_id, sample_index), code, ExecMode.FUNCTION,
                  problem.entry_point, groups)

        def judge(results: Sequence[Any]) -> Execution:
            verdicts = {r.name: _group_verdict(r, g) for r, g in zip(results, groups, strict=True)}
            return Execution(problem.problem_id, sample_index,
                             headline(verdicts["base"], verdicts["plus"]), verdicts)

        return Check(job, judge)

    def canonical_solution(self, problem: Any) -> str:
        return str(problem.prompt) + "    return x * 2\n"

    def passed(self, score_name: str, group_verdicts: dict[str, str]) -> bool:
        groups = ("base",) if score_name == "toyplus" else ("base", "plus")
        return all(group_verdicts.get(g) == P.value for g in groups)


def _group_verdict(result: Any, group: Any) -> Verdict:
    from apr_eval.core import GroupEnd, OutcomeKind

    if result.end is GroupEnd.TIMEOUT:
        return T
    if result.end is not GroupEnd.COMPLETED:
        return E
    for outcome, args in zip(result.outcomes, group.inputs, strict=True):
        if outcome.kind is not OutcomeKind.RETURNED:
            return E
        if outcome.value != args[0] * 2:
            return F
    return P


def _toy_script(check: Any) -> list[Any]:
    from apr_eval.core import GroupEnd, GroupResult, Outcome, OutcomeKind

    job = check.job
    if "while True" in job.code:
        return [GroupResult(g.name, (), GroupEnd.TIMEOUT) for g in job.groups]
    namespace: dict[str, Any] = {}
    try:
        exec(job.code, namespace)
        fn = namespace[job.entry_point]
    except Exception:
        return [GroupResult(g.name, (), GroupEnd.LOAD_ERROR) for g in job.groups]
    out = []
    for g in job.groups:
        outcomes = []
        for args in g.inputs:
            try:
                outcomes.append(Outcome(OutcomeKind.RETURNED, fn(*args)))
            except Exception as exc:
                outcomes.append(Outcome(OutcomeKind.RAISED, error=type(exc).__name__))
        out.append(GroupResult(g.name, tuple(outcomes), GroupEnd.COMPLETED))
    return out


class ToyExecutor:
    """The FakeExecutor with the toy script (constructible without arguments, as the
    registry builds executors)."""

    name = "toyexec"

    def __init__(self) -> None:
        from apr_eval.sandbox.executor import FakeExecutor

        self._fake = FakeExecutor(_toy_script)

    @property
    def image_digest(self) -> str:
        return "toy"

    def run(self, checks: Any, limits: Any) -> Any:
        return self._fake.run(checks, limits)


def register() -> None:
    from apr_eval.benchmarks.base import BENCHMARKS
    from apr_eval.sandbox.executor import EXECUTORS

    BENCHMARKS.register("toyplus", "nightly_support:ToyPlus")
    EXECUTORS.register("toyexec", "nightly_support:ToyExecutor")


PASS_BODY = "    return x * 2\n"
FAIL_BODY = "    return None\n"
PLUS_FAIL_BODY = "    return x * 2 if x < 10 else 0\n"
TIMEOUT_BODY = "    while True:\n        pass\n"


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def nightly_toml(results: Path, models: Sequence[Mapping[str, Any]], *, size: int = 20,
                 extra: str = "") -> str:
    """A nightly config over the toy benchmark. Each model: name, bodies (problem index ->
    body; missing indices pass), optional model (default: the name) / revision / delay_s /
    baseline."""
    lines = [f"results_dir = {toml_str(str(results))}", 'executor = "toyexec"', extra,
             "[defaults]", 'prompt_style = "completion"', "[defaults.sampling]", "n = 1", "",
             "[[benchmarks]]", 'name = "toyplus"', f"options = {{ size = {size} }}", ""]
    for m in models:
        lines += ["[[models]]", f"name = {toml_str(m['name'])}", 'backend = "fake"',
                  f"model = {toml_str(m.get('model', m['name']))}"]
        for key in ("revision", "baseline"):
            if key in m:
                lines.append(f"{key} = {toml_str(m[key])}")
        lines.append("[models.options]")
        if "delay_s" in m:
            lines.append(f"delay_s = {m['delay_s']}")
        lines.append("[models.options.responses]")
        bodies = m.get("bodies", {})
        for i in range(size):
            lines.append(f"{toml_str(f'def tp{i}(x)')} = [{toml_str(bodies.get(i, PASS_BODY))}]")
        lines.append("")
    return "\n".join(lines)


def report_flips(report: str) -> dict[str, dict[str, str]]:
    """'<score>: passed by A, failed by B' -> {problem: failure kind} from the Markdown."""
    flips: dict[str, dict[str, str]] = {}
    for section in report.split("\n### ")[1:]:
        title, _, body = section.partition("\n")
        rows = re.findall(r"^\| (\S+) \| \d+/\d+ \| \d+/\d+ \| ([^|]*) \|", body, re.MULTILINE)
        flips[re.sub(r": \d+ ", ": ", title)] = {pid: kind.strip() for pid, kind in rows}
    return flips


def main() -> None:
    """``python -c 'import nightly_support; nightly_support.main()' nightly --config ...``:
    the real CLI in a real process, with the toy benchmark and executor registered."""
    import sys

    from apr_eval.cli import entrypoint

    register()
    sys.exit(entrypoint(sys.argv[1:]))


class FlakyExecutor(ToyExecutor):
    """The toy executor, but the samples of problems tp/3..tp/5 end as infra errors: once
    each (``FLAKY_ONCE``: a retry gets the real verdict) or always."""

    name = "flakyexec"
    always = False
    seen: set[tuple[str, int]] = set()

    def run(self, checks: Any, limits: Any) -> Any:
        from apr_eval.core import Execution, Verdict

        for check in checks:
            key = (check.job.key.problem_id, check.job.key.sample_index)
            if key[0] in ("tp/3", "tp/4", "tp/5") and (self.always or key not in self.seen):
                self.seen.add(key)
                yield Execution(key[0], key[1], Verdict.INFRA_ERROR, {}, detail="engine")
            else:
                yield from self._fake.run([check], limits)


class BrokenExecutor(FlakyExecutor):
    name = "brokenexec"
    always = True


def register_flaky() -> None:
    from apr_eval.sandbox.executor import EXECUTORS

    FlakyExecutor.seen = set()
    EXECUTORS.register("flakyexec", "nightly_support:FlakyExecutor")
    EXECUTORS.register("brokenexec", "nightly_support:BrokenExecutor")


def run_cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """``apr-eval ARGS`` in process: (exit code, stdout, stderr)."""
    from apr_eval.cli import entrypoint

    try:
        code = entrypoint(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err
