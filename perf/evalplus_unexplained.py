"""Where evalplus 0.3.1 fails what apr-eval passes: does evalplus's verdict depend on the sample?

    python perf/evalplus_unexplained.py [--bench humaneval,mbpp] [--runs 2]

For HE+ v0.1.10 and MBPP+ v0.2.0, evalplus judges every task's own canonical solution (the
whole dataset: the memory evalplus's worker holds is part of the condition) a few times, with
its defaults and with its memory limit lifted (``EVALPLUS_MAX_MEMORY_BYTES=-1``), and reports
every task whose canonical solution evalplus fails. A canonical solution failing under evalplus
shows its verdict there does not depend on the sample; one that passes without the memory limit
shows the limit (4 GiB of address space, shared with what the evaluating process already maps)
decides it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import evalplus_support as ep  # noqa: E402

VERSIONS = {"humaneval": "v0.1.10", "mbpp": "v0.2.0"}
CONDITIONS = {"default": {}, "no-memory-limit": {"EVALPLUS_MAX_MEMORY_BYTES": "-1"}}


def failures(bench: str, tmp: Path, env: dict[str, str]) -> tuple[dict[str, tuple[bool, bool]],
                                                                   float]:
    dataset = ep.dataset_file(tmp, ep.STEMS[(bench, VERSIONS[bench])])
    tasks = ep.read_tasks(dataset)
    samples = ep.write_samples(tmp / "canonical.jsonl", [
        (tid, str(t["prompt"]) + str(t["canonical_solution"])) for tid, t in tasks.items()])
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        start = time.monotonic()
        verdicts = ep.run_evalplus(bench, dataset, samples, parallel=2)
        wall = time.monotonic() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {k[0]: v for k, v in verdicts.items() if not all(v)}, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="humaneval,mbpp")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    for bench in args.bench.split(","):
        for name, env in CONDITIONS.items():
            for run in range(args.runs):
                with tempfile.TemporaryDirectory() as tmp:
                    failed, wall = failures(bench, Path(tmp), env)
                shown = ", ".join(f"{t} ({'base' if not v[0] else 'plus'})"
                                  for t, v in sorted(failed.items()))
                print(f"{bench} {name} run {run + 1}: evalplus fails {len(failed)} canonical "
                      f"solutions in {wall:.0f}s: {shown or '-'}", flush=True)


if __name__ == "__main__":
    main()
