"""WASM executor vs Docker executor: throughput and load independence, from one run.

    python perf/wasm_vs_docker.py [--bench humaneval|mbpp|livecodebench] [--limit N]
                                  [--workers 2] [--skip-loaded]

The set: the Qwen2.5-Coder-1.5B HumanEval+ v0.1.9 (or MBPP+ v0.1.0) samples, the dataset
versions evalplus judged them with, or LiveCodeBench's 167 published Qwen2.5-Ins-7B v5
programs on their public tests (the first ``--limit``). Both
executors get the same checks and limits (``--workers`` at once). Order: the WASM executor's
one-time costs (compiling the interpreter or loading it from the cache, measuring the canonical
solutions' fuel), then each executor on the machine as it is, then each with one more busy-loop
process per core (the verdict changes against its own first run are printed: the point of
fuel). Prints samples/s of each, the WASM/Docker ratio, and the projected wall time of 164 x 50
and 974 x 50 samples at the measured per-sample cost. On a shared machine the load drifts: say so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "perf"))
sys.path.insert(0, str(REPO / "tests"))

from lcb_support import SAMPLES as LCB_SAMPLES  # noqa: E402
from ray_overhead import timed  # noqa: E402

from apr_eval.benchmarks.base import open_benchmark  # noqa: E402
from apr_eval.core import Check, SandboxLimits  # noqa: E402
from apr_eval.harness.interop.evaluate import load_samples  # noqa: E402
from apr_eval.harness.run.execution import Program, build_checks  # noqa: E402

PROJECTIONS = ((164, 50), (974, 50))
SAMPLES = REPO.parent / "shared" / "data" / "samples" / "evalplus" / "qwen2.5-coder-1.5b-base"
VERSIONS = {"humaneval": "v0.1.9", "mbpp": "v0.1.0", "livecodebench": None}


def lcb_checks(limits: SandboxLimits) -> list[Check]:
    benchmark = open_benchmark("livecodebench")
    problems = {p.problem_id: p for p in benchmark.load()}
    rows = json.loads(LCB_SAMPLES.read_text())
    return [benchmark.build_check(problems[r["question_id"]], r["code_list"][0], 0, limits)
            for r in rows]


def make_checks(bench: str, limits: SandboxLimits) -> list[Check]:
    if VERSIONS[bench] is None:
        return lcb_checks(limits)
    benchmark = open_benchmark(bench, VERSIONS[bench])
    samples = load_samples(benchmark, SAMPLES / bench / "generated.jsonl", allow_missing=False)
    programs = [Program(s.problem_id, s.sample_index, s.code) for s in samples]
    return build_checks(benchmark, programs, limits)


@contextmanager
def saturated(processes: int) -> Iterator[None]:
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(processes)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def changes(a: dict, b: dict) -> list[str]:
    return [f"{k[0]}#{k[1]}: {a[k].value} -> {b[k].value}" for k in sorted(a) if a[k] != b.get(k)]


def report(name: str, n: int, seconds: float) -> float:
    rate = n / seconds
    print(f"{name:24s} {seconds:8.1f} s  {rate:6.2f} samples/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", choices=sorted(VERSIONS), default="humaneval")
    parser.add_argument("--limit", type=int, default=0, help="first N samples (0: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-loaded", action="store_true")
    args = parser.parse_args()
    limits = SandboxLimits(workers=args.workers)
    checks = make_checks(args.bench, limits)[: args.limit or None]
    print(f"{len(checks)} samples, {args.workers} workers, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    from apr_eval.sandbox.docker_executor import DockerExecutor
    from apr_eval.sandbox.wasm_executor import WasmExecutor

    start = time.monotonic()
    wasm = WasmExecutor()
    opened = time.monotonic() - start
    start = time.monotonic()
    with_refs = [c for c in checks if c.job.reference]
    wasm.measure(with_refs, limits)
    measured = time.monotonic() - start
    print(f"wasm: engine + module {opened:.1f} s; canonical fuel {measured:.1f} s "
          f"(once per dataset; cached)")
    docker = DockerExecutor()
    docker_s, docker_v = timed(docker, checks, limits)
    wasm_s, wasm_v = timed(wasm, checks, limits)
    n = len(checks)
    rate_d = report("docker (as is)", n, docker_s)
    rate_w = report("wasm (as is)", n, wasm_s)
    print(f"wasm / docker throughput: {rate_w / rate_d:.2f}")
    differ = changes(docker_v, wasm_v)
    print(f"verdicts differing wasm vs docker: {len(differ)}")
    for line in differ:
        print("   ", line)
    for problems, samples in PROJECTIONS:
        total = problems * samples
        print(f"projected {problems} x {samples}: docker {total / rate_d / 3600:.2f} h, "
              f"wasm {total / rate_w / 3600:.2f} h (this machine, {args.workers} workers)")
    if args.skip_loaded:
        return
    cores = os.cpu_count() or 2
    with saturated(cores):
        docker_l, docker_lv = timed(docker, checks, limits)
        wasm_l, wasm_lv = timed(wasm, checks, limits)
    report("docker (+busy loops)", n, docker_l)
    report("wasm (+busy loops)", n, wasm_l)
    for name, idle, loaded in (("docker", docker_v, docker_lv), ("wasm", wasm_v, wasm_lv)):
        moved = changes(idle, loaded)
        print(f"{name}: {len(moved)} verdicts changed as is -> +busy loops")
        for line in moved:
            print("   ", line)


if __name__ == "__main__":
    main()
