"""``--lcb-out``: verdicts in lcb_runner's ``eval_all`` shape (its files are read by
:mod:`apr_eval.harness.interop.samples`).

Written (one object per problem, problems in load order):
``question_id, question_title, platform, contest_id, contest_date, starter_code, difficulty,
code_list, graded_list, pass@1, metadata`` where ``metadata`` is a list of JSON strings, one
per sample: ``{"execution time": s}`` when passed, else ``error_code`` (-2 wrong answer,
-3 time limit, -4 runtime error, -5 harness/other), ``error_message`` and, where a test
failed, ``inputs``/``expected``/``output`` truncated as lcb_runner truncates them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from apr_eval.benchmarks.base import Benchmark
from apr_eval.benchmarks.lcb_compare import error_code, truncate
from apr_eval.core import Execution, GroupEnd, Problem, Verdict
from apr_eval.harness.run.rundir import RunDir

_MESSAGES = {Verdict.FAILED: "Wrong Answer", Verdict.TIMEOUT: "Time Limit Exceeded",
             Verdict.ERROR: "Runtime Error"}


def sample_metadata(execution: Execution) -> dict[str, Any]:
    code = error_code(execution.verdict)
    if code is None:
        return {"execution time": execution.duration_s}
    meta: dict[str, Any] = {"error_code": code,
                            "error_message": _MESSAGES.get(execution.verdict,
                                                           execution.verdict.value)}
    failing = execution.failing
    if failing is not None and failing.reason.startswith(GroupEnd.LOAD_ERROR.value):
        # upstream fails while compiling, before any test: no inputs in its metadata
        meta["error_message"] = f"Error during testing: {execution.detail[-200:]}"
    elif failing is not None:
        if execution.verdict is Verdict.FAILED:
            meta["error_message"] = failing.reason or meta["error_message"]
            meta["output"] = truncate(failing.got)
        else:  # upstream: a fixed message, the exception in "error"
            meta["error"] = failing.reason
        meta["inputs"] = truncate(failing.input)
        meta["expected"] = truncate(failing.expected)
    if execution.detail and "error" not in meta:
        meta["error"] = execution.detail[-300:]
    return meta


def eval_all_rows(problems: Sequence[Problem], codes: Mapping[tuple[str, int], str],
                  executions: Iterable[Execution]) -> list[dict[str, Any]]:
    by_problem: dict[str, dict[int, Execution]] = {}
    for e in executions:
        by_problem.setdefault(e.problem_id, {})[e.sample_index] = e
    rows = []
    for p in problems:
        samples = by_problem.get(p.problem_id)
        if not samples:
            continue
        order = sorted(samples)
        graded = [samples[i].verdict is Verdict.PASSED for i in order]
        rows.append({
            "question_id": p.problem_id,
            "question_title": p.metadata.get("question_title"),
            "platform": p.metadata.get("platform"),
            "contest_id": p.metadata.get("contest_id"),
            "contest_date": p.metadata.get("contest_date"),
            "starter_code": p.starter_code,
            "difficulty": p.difficulty,
            "code_list": [codes.get((p.problem_id, i), "") for i in order],
            "graded_list": graded,
            "pass@1": graded.count(True) / len(graded),
            "metadata": [json.dumps(sample_metadata(samples[i])) for i in order],
        })
    return rows


def write_lcb_out(path: str | Path, benchmark: Benchmark, run: RunDir) -> int:
    """Write a run's verdicts as lcb_runner's eval_all file; returns the problems written."""
    codes = {(k.problem_id, k.sample_index): c.code for k, c in run.completions().items()}
    return write_eval_all(path, benchmark.load(), codes, run.executions().values())


def write_eval_all(path: str | Path, problems: Sequence[Problem],
                   codes: Mapping[tuple[str, int], str], executions: Iterable[Execution]) -> int:
    """Write the eval_all file (atomically); returns the number of problems written."""
    rows = eval_all_rows(problems, codes, executions)
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(rows, indent=2))
    tmp.replace(target)
    return len(rows)
