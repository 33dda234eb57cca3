"""Time to evaluate the 167 published Qwen2.5-Ins-7B LiveCodeBench v5 programs on their public
tests: ours (the real in-container runner as local subprocesses, verdicts on the host) against
lcb_runner's own evaluator (``codegen_metrics``) when an interpreter that can import it is given.

    python perf/lcb_eval.py [--workers 1] [--docker] [--lcb-python /path/to/venv/bin/python]

lcb_runner: ``pip install nvidia-livecodebench`` in a throwaway venv provides it as package
``livecodebench`` (``lcb_runner`` for a source checkout is tried too). Both sides use the same
worker count and 6 s per test. Prints seconds, tests/second, the ratio, and verdict agreement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from lcb_support import SAMPLES, run_local  # noqa: E402

from apr_eval.benchmarks.livecodebench import LiveCodeBench  # noqa: E402
from apr_eval.core import SandboxLimits  # noqa: E402

LCB_SCRIPT = r"""
import json, sys, time
try:
    from livecodebench.evaluation.compute_code_generation_metrics import codegen_metrics
except ImportError:
    from lcb_runner.evaluation.compute_code_generation_metrics import codegen_metrics
job = json.load(open(sys.argv[1]))
start = time.perf_counter()
metrics, results, meta = codegen_metrics(job["samples"], job["generations"], k_list=[1],
                                         num_process_evaluate=job["workers"], timeout=6)
seconds = time.perf_counter() - start
graded = [bool(all(r is True for r in results[i][0])) for i in range(len(job["samples"]))]
json.dump({"seconds": seconds, "graded": graded}, open(sys.argv[2], "w"))
"""


def ours(workers: int, docker: bool = False) -> tuple[float, int, list[bool]]:
    bench = LiveCodeBench()
    problems = {p.problem_id: p for p in bench.load()}
    rows = json.loads(SAMPLES.read_text())
    checks = [bench.build_check(problems[r["question_id"]], r["code_list"][0], 0,
                                SandboxLimits()) for r in rows]
    tests = sum(len(c.job.groups[0].inputs) for c in checks)
    start = time.perf_counter()
    if docker:
        from apr_eval.sandbox.docker_executor import DockerExecutor

        by_key = {e.key: e for e in DockerExecutor().run(checks, SandboxLimits(workers=workers))}
        executions = [by_key[c.job.key] for c in checks]
    else:
        executions = run_local(checks, workers=workers)
    return time.perf_counter() - start, tests, [e.verdict.passed for e in executions]


def theirs(python: str, workers: int) -> tuple[float, list[bool]] | None:
    bench = LiveCodeBench()
    problems = {p.problem_id: p for p in bench.load()}
    rows = json.loads(SAMPLES.read_text())
    samples = []
    for r in rows:
        p = problems[r["question_id"]]
        tests = p.metadata["tests"]
        samples.append({"input_output": json.dumps({
            "inputs": [t.input for t in tests], "outputs": [t.output for t in tests],
            "fn_name": p.entry_point or None})})
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job.write_text(json.dumps({"samples": samples, "workers": workers,
                                   "generations": [[r["code_list"][0]] for r in rows]}))
        proc = subprocess.run([python, "-c", LCB_SCRIPT, str(job), str(out)], cwd=tmp,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            print(f"lcb_runner evaluator failed: {proc.stderr[-500:]}")
            return None
        result = json.loads(out.read_text())
    return float(result["seconds"]), list(result["graded"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--lcb-python", help="python that can import lcb_runner's evaluator")
    parser.add_argument("--docker", action="store_true",
                        help="also time the real sandbox (DockerExecutor, built image)")
    args = parser.parse_args()
    seconds, tests, mine = ours(args.workers)
    print(f"ours:      167 programs, {tests} public tests, {seconds:.1f} s, "
          f"{tests / seconds:.1f} tests/s, {sum(mine)} passed (runner subprocesses, "
          f"workers={args.workers})")
    if args.docker:
        d_seconds, _, d_mine = ours(args.workers, docker=True)
        print(f"ours (docker sandbox): {d_seconds:.1f} s, {tests / d_seconds:.1f} tests/s, "
              f"{sum(d_mine)} passed, same verdicts as the subprocess runner: "
              f"{d_mine == mine}")
    if not args.lcb_python:
        print("lcb_runner: not measured (give --lcb-python)")
        return
    got = theirs(args.lcb_python, args.workers)
    if got is None:
        return
    their_s, their = got
    agree = sum(a == b for a, b in zip(mine, their, strict=True))
    print(f"lcb_runner: 167 programs, {tests} public tests, {their_s:.1f} s, "
          f"{tests / their_s:.1f} tests/s, {sum(their)} passed (workers={args.workers})")
    print(f"ratio ours/lcb_runner time: {seconds / their_s:.2f}; "
          f"verdicts agree on {agree}/{len(mine)} programs")


if __name__ == "__main__":
    main()
