"""A tiny in-test Benchmark (no data files, no sandbox): problem i passes iff the program
contains ``return {i % 2}``. Its judge can be slowed down (TOYBENCH_JUDGE_DELAY seconds per
verdict) so that a test can kill a run during execution."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from apr_eval.benchmarks.base import BENCHMARKS
from apr_eval.benchmarks.prompts import render_evalplus
from apr_eval.core import (
    Check,
    ExecMode,
    Execution,
    GroupResult,
    Job,
    Problem,
    Prompt,
    PromptStyle,
    SampleKey,
    SandboxLimits,
    TestGroup,
    Verdict,
)


class ToyBench:
    name = "toy"
    version = "1"
    score_names = ("toy",)

    def __init__(self, version: str | None = None, path: str | None = None,
                 size: int = 6) -> None:
        self.size = int(os.environ.get("TOYBENCH_SIZE", size))

    @property
    def data_hash(self) -> str:
        return f"toy-{self.size}"

    def load(self) -> Sequence[Problem]:
        return [Problem(benchmark="toy", version="1", problem_id=f"toy/{i}",
                        prompt=f'def f{i}():\n    """Return {i % 2}."""\n', entry_point=f"f{i}")
                for i in range(self.size)]

    def render_prompt(self, problem: Problem, style: PromptStyle,
                      preset: str = "default") -> Prompt:
        return render_evalplus(problem, style, preset)

    def build_check(self, problem: Problem, code: str, sample_index: int,
                    limits: SandboxLimits) -> Check:
        want = f"return {int(problem.problem_id.split('/')[1]) % 2}"
        delay = float(os.environ.get("TOYBENCH_JUDGE_DELAY", "0"))

        def judge(results: Sequence[GroupResult]) -> Execution:
            time.sleep(delay)
            verdict = Verdict.PASSED if want in code else Verdict.FAILED
            return Execution(problem.problem_id, sample_index, verdict,
                             group_verdicts={"base": verdict})

        job = Job(SampleKey(problem.problem_id, sample_index), code, ExecMode.FUNCTION,
                  problem.entry_point, (TestGroup("base", (), ()),))
        return Check(job, judge)

    def canonical_solution(self, problem: Problem) -> str:
        return problem.prompt + f"    return {int(problem.problem_id.split('/')[1]) % 2}\n"

    def passed(self, score_name: str, group_verdicts: dict[str, str]) -> bool:
        return group_verdicts.get("base") == Verdict.PASSED.value


def register() -> None:
    BENCHMARKS.register("toy", "toybench:ToyBench")
