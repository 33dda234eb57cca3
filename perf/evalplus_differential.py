"""Differential run: evalplus 0.3.1 itself vs apr-eval on the same samples, per variant class.

    python perf/evalplus_differential.py [--bench humaneval,mbpp] [--every 14] [--tasks N]
                                         [--canonical-every 1] [--out results/differential]
    python perf/evalplus_differential.py --bench humaneval --samples results/RUN/completions.jsonl

Corpus (HE+ v0.1.10, MBPP+ v0.2.0): the shared Qwen2.5-Coder-1.5B sample and the canonical
solution of every task, and their variants (tests/evalplus_variants.py: imports removed, future
imports, printing, exit()/sys.exit/quit/os._exit, BaseException subclasses, deep recursion,
generators, tuples, mutated inputs, module state, None, huge outputs, floats near the
tolerance, stdin, random/time, numpy; with ``--timed-every``, calls that add up past or under
evalplus's per-group time cap). ``original`` keeps every sample (and one canonical
solution in ``--canonical-every``); every other class about one base in ``--every``. Both
harnesses judge the same file, one after the other (2 workers each). Every differing sample is
then re-judged by evalplus alone (1 worker): a verdict that moves there depends on evalplus's
wall clock, not on the sample. Prints per class: samples, base/plus passes of each harness,
differences; writes the differences as JSON.

``--samples FILE`` judges a model's own samples instead of the corpus (class ``model``): an
evalplus JSONL (``task_id`` + ``solution``) or a run's ``completions.jsonl`` (``problem_id`` +
``code``, every sample of every problem), on the tasks it covers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import evalplus_support as ep  # noqa: E402
import evalplus_variants as ev  # noqa: E402

VERSIONS = {"humaneval": "v0.1.10", "mbpp": "v0.2.0"}


def corpus(bench: str, tmp: Path, every: int, ntasks: int | None, canonical_every: int = 1,
           classes: list[str] | None = None, timed_every: int = 0
           ) -> tuple[Path, list[ev.Program]]:
    dataset = ep.dataset_file(tmp, ep.STEMS[(bench, VERSIONS[bench])])
    tasks = ep.read_tasks(dataset)
    if ntasks is not None:
        tasks = dict(list(tasks.items())[:ntasks])
        dataset = ep.dataset_file(tmp, ep.STEMS[(bench, VERSIONS[bench])], set(tasks))
    lines = (ep.SAMPLES / bench / "generated.jsonl").read_text().splitlines()
    completions = {r["task_id"]: r["completion"] for r in map(json.loads, lines)}
    thin = {cls: every for cls in ev.VARIANTS if cls != "original"}
    thin["original/canonical"] = canonical_every
    programs = list(ev.variants(ev.bases(tasks, completions), thin, classes)) if (
        classes is None or classes) else []
    if timed_every:
        programs += ev.timed_variants(tasks, timed_every)
    covered = {p.task_id for p in programs}
    if covered != set(tasks):  # evalplus wants a sample for every task of its dataset file
        dataset = ep.dataset_file(tmp, ep.STEMS[(bench, VERSIONS[bench])], covered)
    return dataset, programs


def model_samples(bench: str, tmp: Path, path: Path) -> tuple[Path, list[ev.Program]]:
    """A model's samples as the corpus: every line, in file order."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    programs = [ev.Program(str(r.get("task_id", r.get("problem_id"))), "model", "model",
                           str(r.get("solution", r.get("code")))) for r in rows]
    stem = ep.STEMS[(bench, VERSIONS[bench])]
    return ep.dataset_file(tmp, stem, {p.task_id for p in programs}), programs


def judge(bench: str, dataset: Path, programs: list[ev.Program], tmp: Path,
          parallel: int = 2) -> tuple[ep.Verdicts, ep.Verdicts, dict[str, float]]:
    samples = ep.write_samples(tmp / "samples.jsonl", [(p.task_id, p.code) for p in programs])
    t0 = time.monotonic()
    theirs = ep.run_evalplus(bench, dataset, samples, parallel)
    t1 = time.monotonic()
    ours = ep.run_apr(bench, dataset, samples, tmp / "apr", parallel)
    t2 = time.monotonic()
    return theirs, ours, {"evalplus_s": t1 - t0, "apr_s": t2 - t1}


def recheck(bench: str, dataset: Path, diffs: list[ep.Difference],
            programs: dict[ep.Key, ev.Program], tmp: Path) -> dict[ep.Key, tuple[bool, bool]]:
    """evalplus alone (1 worker) on the differing samples: its verdict there again."""
    if not diffs:
        return {}
    keys = sorted({d.key for d in diffs})
    sub = tmp / "recheck"
    sub.mkdir()
    small = ep.dataset_file(sub, dataset.stem, {k[0] for k in keys})
    samples = ep.write_samples(sub / "samples.jsonl", [(k[0], programs[k].code) for k in keys])
    again = ep.run_evalplus(bench, small, samples, parallel=1)
    numbered = dict(zip(ep.keys_in_order(k[0] for k in keys), keys, strict=True))
    return {numbered[k]: v for k, v in again.items()}


def report(bench: str, programs: dict[ep.Key, ev.Program], theirs: ep.Verdicts,
           ours: ep.Verdicts, diffs: list[ep.Difference],
           again: dict[ep.Key, tuple[bool, bool]]) -> list[dict[str, object]]:
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for key, p in programs.items():
        c = rows[p.cls]
        c["samples"] += 1
        c["ep_base"] += theirs[key][0]
        c["ep_plus"] += theirs[key][1]
        c["apr_base"] += ours[key][0]
        c["apr_plus"] += ours[key][1]
    listed = []
    for d in diffs:
        again_here = again[d.key][ep.GROUPS.index(d.group)] if d.key in again else None
        moved = again_here is not None and again_here != d.evalplus
        rows[programs[d.key].cls]["unstable" if moved else "differ"] += 1
        listed.append({"task": d.key[0], "index": d.key[1], "group": d.group,
                       "class": programs[d.key].cls, "source": programs[d.key].source,
                       "evalplus": d.evalplus, "apr": d.apr, "evalplus_again": again_here})
    print(f"{bench}: {'class':24} samples  evalplus base/plus  apr-eval base/plus  differ  "
          "evalplus-unstable")
    for cls in [*ev.VARIANTS, *ev.TIMED, "model"]:
        if cls in rows:
            c = rows[cls]
            print(f"{bench}: {cls:24} {c['samples']:7}  {c['ep_base']:8}/{c['ep_plus']:<9} "
                  f"{c['apr_base']:8}/{c['apr_plus']:<9} {c['differ']:6}  {c['unstable']}")
    return listed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="humaneval,mbpp")
    parser.add_argument("--every", type=int, default=14)
    parser.add_argument("--tasks", type=int, default=None, help="first N tasks only")
    parser.add_argument("--canonical-every", type=int, default=1,
                        help="thin the unchanged canonical solutions too")
    parser.add_argument("--classes", default=None,
                        help="comma-separated variant classes only ('' for none)")
    parser.add_argument("--timed-every", type=int, default=0,
                        help="add the slow-total / slow-under-cap classes on about one task "
                        "in N with >= 120 plus inputs (each costs ~1-2 CPU-minutes; 0: none)")
    parser.add_argument("--samples", type=Path, default=None,
                        help="a model's samples (evalplus JSONL or a run's completions.jsonl)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "differential")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for bench in args.bench.split(","):
        with tempfile.TemporaryDirectory() as tmp_s:
            tmp = Path(tmp_s)
            classes = None if args.classes is None else [c for c in args.classes.split(",") if c]
            dataset, progs = model_samples(bench, tmp, args.samples) if args.samples else (
                corpus(bench, tmp, args.every, args.tasks, args.canonical_every, classes,
                       args.timed_every))
            theirs, ours, times = judge(bench, dataset, progs, tmp)
            programs = dict(zip(ep.keys_in_order(p.task_id for p in progs), progs, strict=True))
            diffs = ep.differences(theirs, ours)
            again = recheck(bench, dataset, diffs, programs, tmp)
            listed = report(bench, programs, theirs, ours, diffs, again)
            unexplained = sum(1 for d in listed if d["evalplus_again"] == d["evalplus"])
            print(f"{bench}: {len(programs)} samples, {2 * len(programs)} verdicts; "
                  f"{len(diffs)} differ ({unexplained} stable under evalplus); "
                  f"evalplus {times['evalplus_s']:.0f}s, apr-eval {times['apr_s']:.0f}s",
                  flush=True)
            (args.out / f"{bench}.json").write_text(json.dumps(
                {"samples": len(programs), "times": times, "differences": listed}, indent=1))


if __name__ == "__main__":
    main()
