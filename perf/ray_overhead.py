"""Overhead of the Ray executor over the local Docker executor, same checks, same run.

    python perf/ray_overhead.py [--copies 10] [--workers 2] [--batch-size 32] [--address ADDR]
                                [--ray-first]

The set: the 164 Qwen2.5-Coder-1.5B HumanEval+ v0.1.9 samples, ``--copies`` times (10 = the
1 640-sample set). Both executors get the same checks and the same limits (``--workers``
containers at once); Ray runs on this machine (a local instance, or ``--address``). Prints the
wall time of each, the overhead ratio (goal <= 10%), Ray's start-up time (paid once per run,
reported apart), the per-batch cost measured on the local run, and the driver's own time per
batch under Ray (encoding + judging: the serial part that bounds scaling with nodes). On a
shared machine the load drifts between the two halves: run it both ways (``--ray-first``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from apr_eval.benchmarks.base import open_benchmark  # noqa: E402
from apr_eval.core import Check, SandboxLimits  # noqa: E402
from apr_eval.harness.interop.evaluate import load_samples  # noqa: E402
from apr_eval.harness.run.execution import Program, build_checks  # noqa: E402
from apr_eval.sandbox.docker_executor import DockerExecutor, plan_batches  # noqa: E402

SAMPLES = (REPO.parent / "shared" / "data" / "samples" / "evalplus" / "qwen2.5-coder-1.5b-base"
           / "humaneval" / "generated.jsonl")


def make_checks(copies: int, limits: SandboxLimits) -> list[Check]:
    lines = SAMPLES.read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "he.jsonl"
        path.write_text("\n".join(line for _ in range(copies) for line in lines) + "\n")
        bench = open_benchmark("humaneval", "v0.1.9")
        samples = load_samples(bench, path, allow_missing=False)
    programs = [Program(s.problem_id, s.sample_index, s.code) for s in samples]
    return build_checks(bench, programs, limits)


def timed(executor: object, checks: list[Check], limits: SandboxLimits) -> tuple[float, dict]:
    start = time.monotonic()
    verdicts = {(e.problem_id, e.sample_index): e.verdict
                for e in executor.run(checks, limits)}  # type: ignore[attr-defined]
    return time.monotonic() - start, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=SandboxLimits.batch_size)
    parser.add_argument("--address", help="a running Ray cluster (default: a local Ray)")
    parser.add_argument("--ray-first", action="store_true", help="time Ray before local")
    args = parser.parse_args()
    limits = SandboxLimits(workers=args.workers, batch_size=args.batch_size)
    checks = make_checks(args.copies, limits)
    batches = len(plan_batches(checks, limits.batch_size))
    print(f"{len(checks)} samples, {batches} batches of <= {limits.batch_size}, "
          f"{limits.workers} containers at once")

    from apr_eval.sandbox.ray_executor import RayExecutor

    start = time.monotonic()
    ray_executor = RayExecutor(address=args.address)
    init_s = time.monotonic() - start
    if args.ray_first:
        ray_s, ray_v = timed(ray_executor, checks, limits)
    local_s, local_v = timed(DockerExecutor(), checks, limits)
    if not args.ray_first:
        ray_s, ray_v = timed(ray_executor, checks, limits)
    print(f"local DockerExecutor: {local_s:8.1f} s  ({len(checks) / local_s:.1f} samples/s)")
    print(f"Ray executor:         {ray_s:8.1f} s  ({len(checks) / ray_s:.1f} samples/s); "
          f"Ray start + image probe {init_s:.1f} s (once per run, not in the ratio)")
    same = ray_v == local_v
    print(f"verdicts identical: {same}")
    print(f"overhead ratio ray/local = {ray_s / local_s:.3f}  "
          f"({100 * (ray_s / local_s - 1):+.1f}%, goal <= +10%)")
    per_batch = local_s * limits.workers / batches
    driver = ray_executor.driver_seconds / max(1, ray_executor.tasks_done)
    print(f"per-batch cost (container-seconds, local run): {per_batch:.2f} s; "
          f"driver time per batch under Ray (encode + judge): {driver:.3f} s")
    print(f"=> one driver keeps up with about {per_batch / max(driver, 1e-9):.0f} "
          "concurrent sandbox slots")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
