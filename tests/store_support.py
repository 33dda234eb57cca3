"""Fixture run directories for the store tests, written with the real RunDir writers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import numpy as np

from apr_eval.core import (
    Completion,
    Execution,
    FailingTest,
    ModelInfo,
    RunManifest,
    SamplingParams,
    Verdict,
)
from apr_eval.harness.run import rundir
from apr_eval.harness.run.rundir import RunDir
from apr_eval.harness.scoring.passk import ks_for, per_problem

P, F = Verdict.PASSED, Verdict.FAILED

# A sample is a headline verdict, or (base, plus) for evalplus-style runs.
Sample = Verdict | tuple[Verdict, Verdict]


def _execution(pid: str, i: int, sample: Sample) -> Execution:
    if isinstance(sample, tuple):
        base, plus = sample
        verdict = P if base.passed and plus.passed else F
        groups = {"base": base, "plus": plus}
    else:
        verdict, groups = sample, {}
    failing = None
    if not verdict.passed:
        failing = FailingTest(group="plus" if groups else "tests", index=3, input=(1, 2),
                              expected=3, got=4, reason="wrong output")
    return Execution(problem_id=pid, sample_index=i, verdict=verdict, group_verdicts=groups,
                     failing=failing, duration_s=0.25,
                     detail="" if verdict.passed else "Traceback\n  line 1\nAssertionError")


def _passed(score: str, sample: Sample) -> bool:
    if isinstance(sample, tuple):
        base, plus = sample
        return base.passed and (plus.passed or not score.endswith("+"))
    return sample.passed


def write_run(root: Path, run_id: str, model: ModelInfo, benchmark: str,
              samples: Mapping[str, Sequence[Sample]], *, created_at: str = "2026-01-01T00:00:00",
              score_names: Sequence[str] | None = None,
              extra: Mapping[str, object] | None = None) -> Path:
    """A whole run directory; scores.json is computed with the real pass@k code."""
    run = RunDir(root / run_id)
    n = max(len(v) for v in samples.values())
    run.write_manifest(RunManifest(
        run_id=run_id, benchmark=benchmark, benchmark_version="v1", data_hash="d" * 8,
        model=model, created_at=created_at, harness_version="0.1.0", backend="fake",
        sampling=SamplingParams(n=n, temperature=0.8 if n > 1 else 0.0),
        prompt_style="completion", problems=tuple(samples), extra=dict(extra or {})))
    # The RunDir line formats, written in bulk (RunDir's own appends fsync every line).
    with run.open_append(rundir.COMPLETIONS) as f:
        f.writelines(json.dumps(rundir.completion_to_json(Completion(
            run_id=run_id, problem_id=pid, sample_index=i, raw=f"raw {pid} {i}",
            code=f"def f():\n    return '{run_id} {pid} {i}'\n"))) + "\n"
            for pid, items in samples.items() for i in range(len(items)))
    with run.open_append(rundir.EXECUTIONS) as f:
        f.writelines(json.dumps(rundir.execution_to_json(_execution(pid, i, sample))) + "\n"
                     for pid, items in samples.items() for i, sample in enumerate(items))
    run.write_scores(known_scores(run_id, samples, score_names or [benchmark]))
    return run.path


def known_scores(run_id: str, samples: Mapping[str, Sequence[Sample]],
                 names: Sequence[str]) -> list[dict[str, object]]:
    """scores.json rows: pass@k from the real estimator, an interval of ±0.25 (known numbers)."""
    scores: list[dict[str, object]] = []
    for name in names:
        ns = [len(v) for v in samples.values()]
        cs = [sum(_passed(name, s) for s in v) for v in samples.values()]
        for k in ks_for(min(ns)):
            value = float(np.mean(per_problem(ns, cs, k)))
            scores.append({"run_id": run_id, "benchmark": name, "k": k, "pass_at_k": value,
                           "ci_low": max(0.0, value - 0.25), "ci_high": min(1.0, value + 0.25),
                           "problems": len(ns), "samples": sum(ns), "excluded": 0})
    return scores


def model(name: str, **kw: object) -> ModelInfo:
    return dataclasses.replace(ModelInfo(name=name), **kw)  # type: ignore[arg-type]


LCB_DATES = {"lcb/1": date(2024, 1, 10), "lcb/2": date(2024, 3, 5),
             "lcb/3": date(2024, 6, 20), "lcb/4": date(2024, 9, 1)}


def fixture_results(root: Path) -> dict[str, Path]:
    """Known runs: two quantizations of one base model on HumanEval+, MBPP+ and LCB."""
    q4 = model("coder-q4", quantization="Q4_K_M", bits=4.0, parameters=1_500_000_000,
               base_model="coder", cutoff=date(2024, 2, 1))
    q8 = model("coder-q8", quantization="Q8_0", bits=8.0, parameters=1_500_000_000,
               base_model="coder", cutoff=date(2023, 6, 1))
    dates = {pid: d.isoformat() for pid, d in LCB_DATES.items()}
    runs = {
        "q4-he": write_run(root, "q4-he", q4, "humaneval",
                           {"HumanEval/0": [(P, P)], "HumanEval/1": [(P, F)],
                            "HumanEval/2": [(F, F)], "HumanEval/3": [(P, P)]},
                           score_names=["humaneval", "humaneval+"]),
        "q8-he": write_run(root, "q8-he", q8, "humaneval",
                           {"HumanEval/0": [(P, P)], "HumanEval/1": [(P, P)],
                            "HumanEval/2": [(F, F)], "HumanEval/3": [(P, P)]},
                           score_names=["humaneval", "humaneval+"]),
        "q4-mbpp": write_run(root, "q4-mbpp", q4, "mbpp",
                             {"Mbpp/2": [(P, P)], "Mbpp/3": [(P, F)]},
                             score_names=["mbpp", "mbpp+"]),
        "q8-mbpp": write_run(root, "q8-mbpp", q8, "mbpp",
                             {"Mbpp/2": [(P, P)], "Mbpp/3": [(P, P)]},
                             score_names=["mbpp", "mbpp+"]),
        # n = 2 samples per problem: pass@1 per problem is 0, 0.5 or 1.
        "q4-lcb": write_run(root, "q4-lcb", q4, "livecodebench",
                            {"lcb/1": [P, P], "lcb/2": [P, F], "lcb/3": [F, F], "lcb/4": [P, F]},
                            extra={"problem_dates": dates}),
        "q8-lcb": write_run(root, "q8-lcb", q8, "livecodebench",
                            {"lcb/1": [P, F], "lcb/2": [F, F], "lcb/3": [P, P], "lcb/4": [P, P]},
                            extra={"problem_dates": dates}),
    }
    return runs
