"""Acceptance: our verdicts vs evalplus's own on real model samples (Qwen2.5-Coder-1.5B).

HumanEval+ v0.1.9 and MBPP+ v0.1.0 are the dataset versions those verdicts were made with
(their ``hash`` field). Every task must agree on base and plus, except the cases listed in
KNOWN with the evidence for why evalplus's recorded verdict is not reproducible; pass@1 must
equal result.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apr_eval.benchmarks.base import open_benchmark
from apr_eval.core import SandboxLimits
from apr_eval.harness.interop.evaluate import EvaluateRequest, evaluate

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]

# "task/group" -> why evalplus's recorded verdict differs from evalplus 0.3.1's semantics.
# See README "Agreement with evalplus" for the evidence.
SET_EQ = "evalplus 0.3.1 compares this task's outputs as sets (MBPP_OUTPUT_SET_EQ_TASKS); " \
         "the recorded verdict came from an older evalplus that compared lists in order"
KNOWN: dict[str, dict[str, str]] = {
    "humaneval": {},
    "mbpp": {"Mbpp/2/base": SET_EQ, "Mbpp/2/plus": SET_EQ, "Mbpp/232/base": SET_EQ,
             "Mbpp/249/base": SET_EQ, "Mbpp/579/plus": SET_EQ},
}
# Verdicts that depend on machine speed under evalplus's own rule (limit = 4 x canonical
# time): either outcome is accepted, and the note gives the measured times.
LOAD_DEPENDENT = {
    "mbpp": {"Mbpp/599/plus": "a Python loop over 1e8 ints vs the canonical sum(range()): "
             "2-4x the canonical time, against a 4x limit"},
    "humaneval": {},
}


def _run(bench: str, version: str, shared: Path, tmp: Path):
    from apr_eval.sandbox.docker_executor import DockerExecutor

    root = shared / "samples" / "evalplus" / "qwen2.5-coder-1.5b-base" / bench
    benchmark = open_benchmark(bench, version)
    req = EvaluateRequest(benchmark, root / "generated.jsonl", tmp, SandboxLimits(workers=2),
                          run_id=f"agree-{bench}")
    run, scores = evaluate(req, DockerExecutor())
    ref = json.loads((root / "generated_eval_results.json").read_text())
    reported = json.loads((root / "result.json").read_text())
    return benchmark, run, scores, ref, reported


@pytest.mark.parametrize("bench,version", [("humaneval", "v0.1.9"), ("mbpp", "v0.1.0")])
def test_verdicts_match_evalplus(bench, version, shared_data, tmp_path):
    benchmark, run, scores, ref, reported = _run(bench, version, shared_data, tmp_path)
    assert ref["hash"] == benchmark.data_hash
    ours = run.executions()
    disagreements = {}
    for task_id, rows in ref["eval"].items():
        (row,) = rows
        (key,) = [k for k in ours if k.problem_id == task_id]
        gv = ours[key].group_verdicts
        for group in ("base", "plus"):
            theirs = row[f"{group}_status"] == "pass"
            if theirs != gv[group].passed:
                disagreements[f"{task_id}/{group}"] = (row[f"{group}_status"], gv[group].value)
    known, flaky = set(KNOWN[bench]), set(LOAD_DEPENDENT[bench])
    assert known <= set(disagreements) <= known | flaky, disagreements
    if bench == "mbpp":
        from evalplus.eval._special_oracle import MBPP_OUTPUT_SET_EQ_TASKS

        for item in known:
            task = benchmark.task(item.rsplit("/", 1)[0])
            assert task["entry_point"] in MBPP_OUTPUT_SET_EQ_TASKS
    # evalplus's own verdicts reproduce result.json ...
    recorded = _pass1(ref["eval"], set())
    plus = f"{bench}+"
    assert (recorded[bench], recorded[plus]) == (reported[bench]["pass@1"],
                                                 reported[plus]["pass@1"])
    # ... and ours equal them once the documented differences are flipped
    pass1 = {s.benchmark: round(100 * s.pass_at_k, 1) for s in scores if s.k == 1}
    assert pass1 == _pass1(ref["eval"], set(disagreements), bench)


def _pass1(table: dict, flipped: set[str], bench: str = "") -> dict[str, float]:
    base = plus = 0
    for task_id, (row,) in table.items():
        b = (row["base_status"] == "pass") != (f"{task_id}/base" in flipped)
        p = (row["plus_status"] == "pass") != (f"{task_id}/plus" in flipped)
        base += b
        plus += b and p
    name = bench or ("mbpp" if next(iter(table)).startswith("Mbpp") else "humaneval")
    n = len(table)
    return {name: round(100 * base / n, 1), f"{name}+": round(100 * plus / n, 1)}
