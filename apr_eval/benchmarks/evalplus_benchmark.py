"""The Benchmark implementation shared by HumanEval+ and MBPP+ (evalplus datasets)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from apr_eval.benchmarks import groundtruth
from apr_eval.benchmarks.evalplus_common import (
    DATA_DIR,
    DataFile,
    EvalplusJudge,
    Expected,
    exact_only,
    group_digest_over,
    group_max_weight,
    make_group,
    read_tasks,
    set_compared,
    task_allowance,
)
from apr_eval.benchmarks.extract import extract_code
from apr_eval.benchmarks.prompts import render_evalplus
from apr_eval.core import (
    Check,
    ExecMode,
    Job,
    Problem,
    Prompt,
    PromptStyle,
    SampleKey,
    SandboxLimits,
    TestGroup,
    Verdict,
)
from apr_eval.errors import UsageError
from apr_eval.settings import load_settings

GROUPS = ("base", "plus")


class EvalplusBenchmark:
    """Subclasses set the dataset name, the pinned files and the input deserializer."""

    name: ClassVar[str]
    dataset: ClassVar[str]  # evalplus's dataset name: "humaneval" / "mbpp"
    score_names: ClassVar[tuple[str, ...]]
    files: ClassVar[Mapping[str, DataFile]]
    default_version: ClassVar[str]
    not_none: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, version: str | None = None, path: str | None = None,
                 cache_dir: Path | None = None, **options: object) -> None:
        if options:
            raise UsageError(f"{self.name}: unknown option(s) {', '.join(sorted(options))}")
        self.version = version or self.default_version
        if self.version not in self.files and f"v{self.version}" in self.files:
            self.version = f"v{self.version}"  # "0.1.9" for "v0.1.9"
        if path is not None:
            file_path, pin = Path(path), None
            self.version = version or f"file:{Path(path).name}"
        elif self.version in self.files:
            spec = self.files[self.version]
            file_path, pin = DATA_DIR / spec.filename, spec.sha256
        else:
            known = ", ".join(self.files)
            raise UsageError(f"{self.name}: unknown version '{self.version}' (known: {known})")
        tasks, self._hash = read_tasks(file_path, pin)
        self._tasks = {t["task_id"]: self.prepare(t) for t in tasks}
        self._cache_dir = cache_dir or load_settings().cache_dir
        self._truth: dict[str, groundtruth.GroundTruth] | None = None
        self._groups: dict[tuple[str, float, float], tuple[TestGroup, ...]] = {}

    # --------------------------------------------------------------- subclass hooks

    def prepare(self, task: dict[str, Any]) -> dict[str, Any]:
        """Dataset-specific fix-ups of one raw task (input deserialization...)."""
        return task

    # --------------------------------------------------------------- protocol

    @property
    def data_hash(self) -> str:
        return self._hash

    def load(self) -> Sequence[Problem]:
        return [Problem(benchmark=self.name, version=self.version, problem_id=tid,
                        prompt=t["prompt"], entry_point=t["entry_point"],
                        metadata={"atol": t.get("atol", 0)})
                for tid, t in self._tasks.items()]

    def task(self, problem_id: str) -> dict[str, Any]:
        try:
            return self._tasks[problem_id]
        except KeyError:
            raise UsageError(f"{self.name} {self.version} has no task '{problem_id}'") from None

    def render_prompt(self, problem: Problem, style: PromptStyle,
                      preset: str = "default") -> Prompt:
        return render_evalplus(problem, style, preset)

    def assemble(self, problem: Problem, completion: str) -> str:
        """evalplus: a sample's program is the prompt followed by its completion."""
        return problem.prompt + completion

    def canonical_solution(self, problem: Problem) -> str:
        t = self.task(problem.problem_id)
        return str(t["prompt"] + t["canonical_solution"])

    @classmethod
    def passed(cls, score_name: str, group_verdicts: Mapping[str, Verdict]) -> bool:
        """`humaneval`: base tests pass; `humaneval+`: base AND plus pass (evalplus)."""
        wanted = GROUPS[:1] if score_name == cls.score_names[0] else GROUPS
        return all(group_verdicts.get(g) == Verdict.PASSED for g in wanted)

    def extract_code(self, problem: Problem, prompt: Prompt, raw: str) -> str:
        """evalplus's sanitized solution (``evalplus.codegen``)."""
        return extract_code(raw, prompt, problem.entry_point)

    def build_check(self, problem: Problem, code: str, sample_index: int,
                    limits: SandboxLimits) -> Check:
        t = self.task(problem.problem_id)
        truth = self.ground_truth()[problem.problem_id]
        groups = self._test_groups(problem.problem_id, truth, limits)
        job = Job(SampleKey(problem.problem_id, sample_index), code, ExecMode.FUNCTION,
                  t["entry_point"], groups, guard="evalplus")
        expected = {g.name: Expected(g.inputs, truth.outputs[g.name],
                                     task_allowance(g.time_limits)) for g in groups}
        judge = EvalplusJudge(self.dataset, problem.problem_id, sample_index,
                              t["entry_point"], float(t.get("atol") or 0), expected)
        return Check(job, judge)

    # --------------------------------------------------------------- ground truth

    def ground_truth(self) -> dict[str, groundtruth.GroundTruth]:
        if self._truth is None:
            tasks = [groundtruth.CanonicalTask(
                tid, t["prompt"] + t["canonical_solution"], t["entry_point"],
                {g: t.get(f"{g}_input", []) for g in GROUPS},
                exact_only(self.dataset, t["entry_point"], float(t.get("atol") or 0)))
                for tid, t in self._tasks.items()]
            cache = self._cache_dir / "groundtruth" / f"{self.name}-{self._hash}.json.gz"
            self._truth = groundtruth.load_or_compute(cache, tasks, self.not_none)
        return self._truth

    def _test_groups(self, problem_id: str, truth: groundtruth.GroundTruth,
                     limits: SandboxLimits) -> tuple[TestGroup, ...]:
        key = (problem_id, limits.min_time_limit_s, limits.time_limit_factor)
        if key not in self._groups:
            t = self._tasks[problem_id]
            atol = float(t.get("atol") or 0)
            self._groups[key] = tuple(
                make_group(g, t.get(f"{g}_input", []), truth.times[g],
                           limits.min_time_limit_s, limits.time_limit_factor,
                           group_digest_over(self.dataset, t["entry_point"], atol,
                                             truth.outputs[g]),
                           group_max_weight(t["entry_point"], truth.heaviest.get(g, 0)),
                           set_compared(self.dataset, t["entry_point"]))
                for g in GROUPS)
        return self._groups[key]
