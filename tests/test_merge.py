"""``apr-eval merge``: shards of one run (cut by problems) joined into the run they are parts of.

Fake backend, fake executor, the toy benchmark; the merged run is checked against the same run
made unsharded.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from test_cli_run import cli
from test_pipeline import spec  # fake backend and executor on the toy benchmark

from apr_eval.core import RunSpec, SamplingParams
from apr_eval.errors import UsageError
from apr_eval.harness.run import pipeline
from apr_eval.harness.run.manifest import comparability_key
from apr_eval.harness.run.merge import merge_runs
from apr_eval.harness.run.rundir import COMPLETIONS, EXECUTIONS, RunDir, read_jsonl
from apr_eval.sandbox.executor import FakeExecutor

FIRST, SECOND = ("toy/0", "toy/1", "toy/2"), ("toy/3", "toy/4", "toy/5")


def shard(tmp: Path, run_id: str, problems: tuple[str, ...], **kw: object) -> RunDir:
    return pipeline.run_pipeline(spec(run_id=run_id, problems=problems, **kw),
                                 executor=FakeExecutor(), results_dir=tmp).run


def records(run: RunDir, name: str) -> list[dict[str, object]]:
    """The lines of a run's file, each completion's run id checked and left out."""
    out = list(read_jsonl(run.path / name))
    for line in out:
        assert line.pop("run_id", run.run_id) == run.run_id
    return out


def test_merged_shards_are_the_unsharded_run(tmp_path: Path) -> None:
    # the second shard is given first: the merged files still follow the benchmark's order
    shards = [shard(tmp_path, "b", SECOND), shard(tmp_path, "a", FIRST)]
    report = merge_runs(shards, "ab", tmp_path)
    whole = pipeline.run_pipeline(spec(run_id="whole"), executor=FakeExecutor(),
                                  results_dir=tmp_path)
    merged = report.run
    assert (report.problems, report.completions, report.executions) == (6, 12, 12)
    m, w = merged.manifest(), whole.run.manifest()
    assert m.problems == w.problems and comparability_key(m) == comparability_key(w)
    assert m.extra["comparability_key"] == comparability_key(m)
    assert m.extra["merged_from"] == ["b", "a"] and m.image_digest == w.image_digest
    assert records(merged, COMPLETIONS) == records(whole.run, COMPLETIONS)
    assert records(merged, EXECUTIONS) == records(whole.run, EXECUTIONS)
    # the merged run is the unsharded spec's run: continuing it has nothing left to do
    again = pipeline.run_pipeline(spec(run_id="ab"), executor=FakeExecutor(),
                                  results_dir=tmp_path)
    assert again.generation is None and again.execution.done_now == 0
    assert [s.pass_at_k for s in again.scores] == [s.pass_at_k for s in whole.scores]
    assert shards[0].manifest().problems == SECOND  # the shards are left as they were


def test_an_unfinished_shard_is_finished_in_the_merged_run(tmp_path: Path) -> None:
    a = shard(tmp_path, "a", FIRST)
    b = shard(tmp_path, "b", SECOND)
    kept = [line for line in (b.path / COMPLETIONS).read_text().splitlines()
            if '"toy/5"' not in line]
    (b.path / COMPLETIONS).write_text("\n".join(kept) + "\n")  # toy/5 not generated yet
    (b.path / EXECUTIONS).write_text("")
    report = merge_runs([a, b], "ab", tmp_path)
    assert (report.completions, report.executions) == (10, 6)
    done = pipeline.run_pipeline(spec(run_id="ab"), executor=FakeExecutor(),
                                 results_dir=tmp_path)
    assert done.generation is not None and done.generation.done_now == 2
    assert done.execution.done_now == 6
    assert len(records(done.run, COMPLETIONS)) == len(records(done.run, EXECUTIONS)) == 12


def test_a_partial_union_keeps_its_problem_list(tmp_path: Path) -> None:
    report = merge_runs([shard(tmp_path, "x", ("toy/4",)), shard(tmp_path, "y", ("toy/1",))],
                        "xy", tmp_path)
    m = report.run.manifest()
    assert m.problems == ("toy/1", "toy/4")
    assert RunSpec.from_json(m.extra["spec"]).problems == ("toy/1", "toy/4")


@pytest.mark.parametrize(("other", "message"), [
    (dict(problems=("toy/2", "toy/3")), "toy/2 is in both"),
    (dict(problems=SECOND, sampling=SamplingParams(n=2, temperature=0.8)),
     "differ in temperature"),
    (dict(problems=SECOND, prompt_preset="fewshot"), "differ in prompt_preset"),
])
def test_runs_that_are_not_shards_of_one_run_are_refused(tmp_path: Path, other: dict[str, object],
                                                         message: str) -> None:
    a = shard(tmp_path, "a", FIRST)
    b = shard(tmp_path, "b", **other)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=message):
        merge_runs([a, b], "ab", tmp_path)
    assert not (tmp_path / "ab").exists()


def test_verdicts_from_two_images_are_not_mixed(tmp_path: Path) -> None:
    a, b = shard(tmp_path, "a", FIRST), shard(tmp_path, "b", SECOND)
    b.write_manifest(dataclasses.replace(b.manifest(), image_digest="sha256:other"))
    with pytest.raises(UsageError, match="different sandbox images"):
        merge_runs([a, b], "ab", tmp_path)
    (b.path / EXECUTIONS).write_text("")  # no verdicts in b: its image does not matter
    assert merge_runs([a, b], "ab", tmp_path).run.manifest().image_digest == "fake"


def test_cli_merge_and_its_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard(tmp_path, "a", FIRST)
    shard(tmp_path, "b", SECOND)
    res = ["--results-dir", str(tmp_path)]
    code, out, err = cli(capsys, "merge", "a", "b", "--run-id", "ab", *res)
    assert code == 0, err
    assert "6 problems, 12 completions, 12 verdicts" in out
    code, out, err = cli(capsys, "score", "ab", *res)
    assert code == 0 and "pass@1" in out
    assert json.loads((tmp_path / "ab" / "scores.json").read_text())[0]["problems"] == 6
    for args, message in [(["a", "b", "--run-id", "ab"], "already exists"),
                          (["a", "--run-id", "c"], "at least two"),
                          (["a", "a", "--run-id", "c"], "given twice"),
                          (["a", "nope", "--run-id", "c"], "not a run directory")]:
        code, out, err = cli(capsys, "merge", *args, *res)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
