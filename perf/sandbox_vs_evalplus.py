"""Throughput of apr-eval's Docker sandbox vs evalplus 0.3.1 (unsandboxed), same run.

    python perf/sandbox_vs_evalplus.py [--sets he,he10,mbpp] [--workers 2]

Sets: ``he`` = the 164 Qwen2.5-Coder-1.5B HumanEval+ samples (v0.1.9), ``he10`` = those
replicated 10x (1 640), ``mbpp`` = the 399 MBPP+ v0.1.0 samples. Both harnesses run with a warm
ground-truth cache (each computes it once, untimed, first); evalplus runs offline through its
dataset override variables, in a fresh folder per run (it reuses or asks about old results).
Prints samples/s for both, the ratio, and the peak RSS of each harness's process tree (for
apr-eval: the host process; the containers are accounted by Docker, not the harness).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from evalplus_support import SAMPLES, dataset_file, evalplus_cmd, evalplus_env  # noqa: E402

SETS = {
    "he": ("humaneval", "v0.1.9", "HumanEvalPlus-v0.1.9", 1),
    "he10": ("humaneval", "v0.1.9", "HumanEvalPlus-v0.1.9", 10),
    "mbpp": ("mbpp", "v0.1.0", "MbppPlus-v0.1.0", 1),
}


def run_measured(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (GiB) of the whole process tree, exit code."""
    # stderr goes to a file, not a pipe: evalplus's tqdm fills a 64 KiB pipe on the 1 640 set
    # and then blocks forever on a write nobody reads.
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        peak = 0
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-2000:])
    return wall, peak / 2**30, proc.returncode


def samples_file(dest: Path, bench: str, copies: int) -> Path:
    lines = (SAMPLES / bench / "generated.jsonl").read_text().splitlines()
    dest.write_text("\n".join(line for _ in range(copies) for line in lines) + "\n")
    return dest


def apr_cmd(bench: str, version: str, samples: Path, results: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "apr_eval.cli", "evaluate", "--bench", bench, "--version",
            version, "--samples", str(samples), "--results", str(results), "--workers",
            str(workers)]


def measure(name: str, workers: int) -> dict[str, float]:
    bench, version, stem, copies = SETS[name]
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        env = evalplus_env(dataset_file(tmp, stem), bench)
        results: dict[str, float] = {"samples": 164 * copies if bench == "humaneval" else 399}
        for label, make in (("evalplus", lambda d, s: evalplus_cmd(bench, s)),
                            ("apr-eval", lambda d, s: apr_cmd(bench, version, s, d, workers))):
            warm = tmp / f"warm-{label}"
            warm.mkdir()
            run_measured(make(warm, samples_file(warm / "s.jsonl", bench, 1)), env, REPO)
            fresh = tmp / f"run-{label}"
            fresh.mkdir()
            samples = samples_file(fresh / "samples.jsonl", bench, copies)
            wall, rss, code = run_measured(make(fresh, samples), env, REPO)
            results[f"{label}_s"], results[f"{label}_rss_gib"] = wall, rss
            results[f"{label}_exit"] = code
            shutil.rmtree(fresh, ignore_errors=True)
    n = results["samples"]
    results["evalplus_sps"] = n / results["evalplus_s"]
    results["apr_sps"] = n / results["apr-eval_s"]
    results["ratio"] = results["apr_sps"] / results["evalplus_sps"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default="he,he10,mbpp")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; apr-eval workers={args.workers}; "
          "evalplus default workers (cpu_count // 2)")
    for name in args.sets.split(","):
        r = measure(name, args.workers)
        print(json.dumps({"set": name, **{k: round(v, 3) for k, v in r.items()}}))
        print(f"{name}: {int(r['samples'])} samples | evalplus {r['evalplus_s']:.1f}s "
              f"({r['evalplus_sps']:.2f}/s, peak {r['evalplus_rss_gib']:.2f} GiB) | apr-eval "
              f"sandboxed {r['apr-eval_s']:.1f}s ({r['apr_sps']:.2f}/s, peak "
              f"{r['apr-eval_rss_gib']:.2f} GiB) | ratio {r['ratio']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
