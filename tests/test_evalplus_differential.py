"""Differential test: evalplus 0.3.1 itself and apr-eval judge the same variant samples alike.

A fast subset of perf/evalplus_differential.py: a few light tasks of HE+ v0.1.10 and MBPP+
v0.2.0, their canonical solution and model sample, through every variant class of
tests/evalplus_variants.py (a few hundred base/plus verdicts per benchmark). Both harnesses
run on this machine; every per-sample base/plus verdict must agree.
"""

from __future__ import annotations

import json

import evalplus_support as ep
import evalplus_variants as ev
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]

# Light tasks covering typing imports (List/Tuple/Optional), float tolerance, sets and tuples
# (MBPP input deserialization, set-equality oracle), and a plain integer task.
TASKS = {
    ("humaneval", "v0.1.10"): ("HumanEval/0", "HumanEval/4", "HumanEval/12"),
    ("mbpp", "v0.2.0"): ("Mbpp/2", "Mbpp/3", "Mbpp/82"),
}
# the sample is judged through every class for the first task, the canonical solution for all
SAMPLE_TASKS = 1


@pytest.mark.parametrize(("bench", "version"), list(TASKS))
def test_same_verdicts_as_evalplus(bench, version, shared_data, tmp_path):
    tasks = TASKS[(bench, version)]
    dataset = ep.dataset_file(tmp_path, ep.STEMS[(bench, version)], set(tasks))
    table = ep.read_tasks(dataset)
    lines = (ep.SAMPLES / bench / "generated.jsonl").read_text().splitlines()
    completions = {r["task_id"]: r["completion"] for r in map(json.loads, lines)
                   if r["task_id"] in tasks[:SAMPLE_TASKS]}
    programs = list(ev.variants(ev.bases(table, completions), {}))
    assert {p.cls for p in programs} == set(ev.VARIANTS)
    samples = ep.write_samples(tmp_path / "samples.jsonl",
                               [(p.task_id, p.code) for p in programs])
    theirs = ep.run_evalplus(bench, dataset, samples)
    ours = ep.run_apr(bench, dataset, samples, tmp_path / "apr")
    keys = ep.keys_in_order(p.task_id for p in programs)
    named = {k: f"{p.task_id} {p.source} {p.cls}" for k, p in zip(keys, programs, strict=True)}
    diffs = [(named[d.key], d.group, d.evalplus, d.apr) for d in ep.differences(theirs, ours)]
    assert diffs == []
    # the corpus is not trivially one-sided: both verdicts occur on both groups
    for group in (0, 1):
        assert {v[group] for v in theirs.values()} == {True, False}
