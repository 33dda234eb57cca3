"""Where evalplus 0.3.1 fails what apr-eval passes: does evalplus's verdict depend on the sample?

    python perf/evalplus_unexplained.py [--tasks HumanEval/15,...] [--runs 3]

Each task's own canonical solution and the shared Qwen2.5-Coder-1.5B sample are judged by
evalplus (HE+ v0.1.10 / MBPP+ v0.2.0, only those tasks in the dataset file) several times under
three conditions: its defaults; its per-input wall-clock limit widened
(``--gt-time-limit-factor 40``); its 4 GiB memory limit lifted
(``EVALPLUS_MAX_MEMORY_BYTES=-1``). Prints how often each passes base and plus. A canonical
solution that evalplus fails, or a verdict that moves between runs or with a limit, is a
verdict that does not depend on the sample alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import evalplus_support as ep  # noqa: E402

TASKS = "HumanEval/15,HumanEval/106,Mbpp/160,Mbpp/255"
CONDITIONS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),
    "time-limit-x40": (["--gt-time-limit-factor", "40"], {}),
    "no-memory-limit": ([], {"EVALPLUS_MAX_MEMORY_BYTES": "-1"}),
}


def judge(bench: str, tasks: list[str], runs: int) -> None:
    version = "v0.1.10" if bench == "humaneval" else "v0.2.0"
    lines = (ep.SAMPLES / bench / "generated.jsonl").read_text().splitlines()
    completions = {r["task_id"]: r["completion"] for r in map(json.loads, lines)}
    for name, (options, env) in CONDITIONS.items():
        counts: Counter[tuple[str, str, str]] = Counter()
        start = time.monotonic()
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp_s:
                tmp = Path(tmp_s)
                dataset = ep.dataset_file(tmp, ep.STEMS[(bench, version)], set(tasks))
                table = ep.read_tasks(dataset)
                programs = [(t, "canonical", str(table[t]["prompt"]) + str(
                    table[t]["canonical_solution"])) for t in tasks]
                programs += [(t, "sample", str(table[t]["prompt"]) + completions[t])
                             for t in tasks if t in completions]
                samples = ep.write_samples(tmp / "s.jsonl", [(t, c) for t, _, c in programs])
                got = ep.run_evalplus(bench, dataset, samples, 2, options=options, env=env)
                keys = ep.keys_in_order(t for t, _, _ in programs)
                for key, (task, source, _) in zip(keys, programs, strict=True):
                    counts[(task, source, "base")] += got[key][0]
                    counts[(task, source, "plus")] += got[key][1]
        wall = time.monotonic() - start
        for task in tasks:
            row = " ".join(f"{src} base {counts[(task, src, 'base')]}/{runs} plus "
                           f"{counts[(task, src, 'plus')]}/{runs}" for src in ("canonical",
                                                                                 "sample"))
            print(f"{task:14} {name:16} {row}", flush=True)
        print(f"({bench}, {name}: {runs} runs in {wall:.0f}s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default=TASKS)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    for bench, prefix in (("humaneval", "HumanEval/"), ("mbpp", "Mbpp/")):
        mine = [t for t in tasks if t.startswith(prefix)]
        if mine:
            judge(bench, mine, args.runs)


if __name__ == "__main__":
    main()
