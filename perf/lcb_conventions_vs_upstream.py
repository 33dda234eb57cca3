"""Cross-check the runner-convention cases of tests/test_lcb_runner.py against lcb_runner itself.

    python perf/lcb_conventions_vs_upstream.py --lcb-python /path/to/venv/bin/python

(the venv: ``pip install nvidia-livecodebench``; too heavy for CI). Prints one line per case
with our verdict and lcb_runner's result/error code, and the number that agree.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_lcb_runner as cases  # noqa: E402
from lcb_support import run_local  # noqa: E402

from apr_eval.benchmarks.lcb_compare import error_code  # noqa: E402
from apr_eval.benchmarks.livecodebench import LiveCodeBench  # noqa: E402
from apr_eval.core import SandboxLimits  # noqa: E402

UPSTREAM = r"""
import json, sys
try:
    from livecodebench.evaluation.compute_code_generation_metrics import check_correctness
except ImportError:
    from lcb_runner.evaluation.compute_code_generation_metrics import check_correctness
if __name__ == "__main__":
    out = []
    for job in json.load(open(sys.argv[1])):
        res, meta = check_correctness(job["sample"], job["code"], timeout=1, debug=False)
        out.append(None if all(r is True for r in res) else meta.get("error_code"))
    json.dump(out, open(sys.argv[2], "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lcb-python", required=True)
    args = parser.parse_args()
    bench = LiveCodeBench(timeout=1.0)
    checks = [bench.build_check(p, code, 0, SandboxLimits()) for _, p, code, _ in cases.CASES]
    ours = [error_code(e.verdict) for e in run_local(checks)]
    jobs = []
    for _, problem, code, _ in cases.CASES:
        tests = problem.metadata["tests"]
        jobs.append({"code": code, "sample": {"input_output": json.dumps({
            "inputs": [t.input for t in tests], "outputs": [t.output for t in tests],
            "fn_name": problem.entry_point or None})}})
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, script = Path(tmp) / "in.json", Path(tmp) / "out.json", Path(tmp) / "up.py"
        src.write_text(json.dumps(jobs))
        script.write_text(UPSTREAM)
        subprocess.run([args.lcb_python, str(script), str(src), str(dst)], cwd=tmp,
                       capture_output=True, check=True)
        theirs = json.loads(dst.read_text())
    agree = 0
    for (name, *_), mine, up in zip(cases.CASES, ours, theirs, strict=True):
        agree += mine == up
        print(f"{name:24s} ours={mine!s:5s} lcb_runner={up!s:5s} {'ok' if mine == up else 'DIFF'}")
    print(f"agree on {agree}/{len(ours)} cases (error code: None = passed)")


if __name__ == "__main__":
    main()
