"""Scoring a run: executions -> pass@k per headline score, written to scores.json."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from apr_eval.benchmarks.base import Benchmark
from apr_eval.core import Execution, SampleKey, Score, Verdict
from apr_eval.harness.scoring.passk import ks_for, pass_at_k


def counts(executions: Iterable[Execution], benchmark: Benchmark,
           score_name: str) -> dict[str, tuple[int, int]]:
    """problem id -> (samples, passed samples) for one headline score."""
    n: dict[str, int] = defaultdict(int)
    c: dict[str, int] = defaultdict(int)
    for e in executions:
        n[e.problem_id] += 1
        c[e.problem_id] += int(benchmark.passed(score_name, e.rule_verdicts()))
    return {pid: (n[pid], c[pid]) for pid in n}


def score_run(run_id: str, executions: Mapping[SampleKey, Execution],
              benchmark: Benchmark) -> list[Score]:
    execs = list(executions.values())
    infra = sum(e.verdict is Verdict.INFRA_ERROR for e in execs)
    scores: list[Score] = []
    for name in benchmark.score_names:
        table = counts(execs, benchmark, name)
        if not table:
            continue
        ns = [v[0] for v in table.values()]
        cs = [v[1] for v in table.values()]
        for k in ks_for(min(ns)):
            p = pass_at_k(ns, cs, k)
            scores.append(Score(run_id=run_id, benchmark=name, k=k, pass_at_k=p.value,
                                ci_low=p.ci_low, ci_high=p.ci_high, problems=len(ns),
                                samples=sum(ns), excluded=infra,
                                ci_method=p.ci_method))
    return scores
