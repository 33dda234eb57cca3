"""The run pipeline in process: fake backend, fake executor, the toy benchmark."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import pytest
import toybench

from apr_eval.core import (
    Check,
    Execution,
    GenerationOutput,
    Prompt,
    PromptStyle,
    RunSpec,
    SamplingParams,
    SandboxLimits,
    Verdict,
)
from apr_eval.errors import BackendError, UsageError
from apr_eval.harness.generation.backends.base import PartialGenerationError
from apr_eval.harness.generation.backends.fake import FakeBackend
from apr_eval.harness.run import pipeline, rundir, stages
from apr_eval.harness.run.manifest import comparability_key
from apr_eval.harness.run.rundir import COMPLETIONS, EXECUTIONS, RunDir, read_jsonl
from apr_eval.sandbox.executor import FakeExecutor

toybench.register()
GOOD = {"def f": ["    return 1\n", "    return 0\n"]}  # sample 0 solves odd ids, 1 even ids


def spec(**kw: object) -> RunSpec:
    base: dict[str, object] = dict(model="fake", benchmark="toy", backend="fake",
                                   backend_options={"responses": GOOD},
                                   sampling=SamplingParams(n=2), executor="fake")
    base.update(kw)
    return RunSpec(**base)  # type: ignore[arg-type]


def lines(run: RunDir, name: str) -> list[tuple[str, int]]:
    return [(d["problem_id"], d["sample_index"]) for d in read_jsonl(run.path / name)]


def test_full_run_scores_and_manifest(tmp_path: Path) -> None:
    s = spec(cutoff=date(2024, 9, 1))
    result = pipeline.run_pipeline(s, executor=FakeExecutor(), results_dir=tmp_path)
    run = result.run
    assert sorted(lines(run, COMPLETIONS)) == [(f"toy/{i}", j) for i in range(6) for j in (0, 1)]
    assert len(lines(run, EXECUTIONS)) == 12
    [p1] = [x for x in result.scores if x.k == 1]
    assert p1.pass_at_k == pytest.approx(0.5) and p1.problems == 6 and p1.samples == 12
    assert json.loads((run.path / "scores.json").read_text())[0]["pass_at_k"] == p1.pass_at_k
    m = run.manifest()
    assert m.prompt_style == "completion" and m.image_digest == "fake"
    assert m.data_hash == "toy-6" and m.sampling == s.sampling
    assert m.model.cutoff == date(2024, 9, 1) and m.model.engine == "fake"
    assert m.extra["comparability_key"] == comparability_key(m)
    assert RunSpec.from_json(m.extra["spec"]) == s
    assert result.generation is not None and result.generation.done_now == 12


def test_rerun_of_a_finished_run_does_not_load_the_model(tmp_path: Path) -> None:
    pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path)

    class Unloadable(FakeBackend):
        def __enter__(self) -> Unloadable:
            raise AssertionError("model loaded for a finished run")

    def no_backend(_: RunSpec) -> FakeBackend:
        return Unloadable()

    again = pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path,
                                  backend_factory=no_backend)
    assert again.generation is None and again.execution.done_now == 0
    assert len(lines(again.run, COMPLETIONS)) == 12


def test_backend_failure_keeps_finished_samples_and_rerun_completes(tmp_path: Path) -> None:
    failing = spec(backend_options={"responses": GOOD, "fail_after": 3})
    with pytest.raises(BackendError, match="scripted failure"):
        pipeline.run_pipeline(failing, executor=FakeExecutor(), results_dir=tmp_path,
                              backend_factory=lambda _: FakeBackend(responses=GOOD,
                                                                    fail_after=3))
    run = pipeline.run_dir_for(failing, tmp_path)
    assert len(lines(run, COMPLETIONS)) == 6  # 3 problems x 2 samples, kept
    result = pipeline.run_pipeline(failing, executor=FakeExecutor(), results_dir=tmp_path,
                                   backend_factory=lambda _: FakeBackend(responses=GOOD))
    assert result.generation is not None and result.generation.done_before == 6
    got = lines(run, COMPLETIONS)
    assert len(got) == len(set(got)) == 12


def test_a_problem_cut_between_its_samples_gets_the_same_texts(tmp_path: Path) -> None:
    """Sample i is always the i-th output of a full call: no duplicate of sample 0."""
    s = spec()
    run = pipeline.run_pipeline(s, executor=FakeExecutor(), results_dir=tmp_path).run
    before = {k: c.raw for k, c in run.completions().items()}
    path = run.path / COMPLETIONS
    kept = path.read_bytes().splitlines(keepends=True)[:-1]  # lose toy/5 sample 1
    path.write_bytes(b"".join(kept))
    (run.path / EXECUTIONS).unlink()
    again = pipeline.run_pipeline(s, executor=FakeExecutor(), results_dir=tmp_path)
    assert {k: c.raw for k, c in again.run.completions().items()} == before
    assert again.generation is not None and again.generation.done_now == 1


def test_torn_last_line_is_redone_once(tmp_path: Path) -> None:
    s = spec()
    run = pipeline.run_pipeline(s, executor=FakeExecutor(), results_dir=tmp_path).run
    for name in (COMPLETIONS, EXECUTIONS):
        path = run.path / name
        data = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(data[:-1]) + data[-1][:20])  # a kill mid-write
    pipeline.run_pipeline(s, executor=FakeExecutor(), results_dir=tmp_path)
    for name in (COMPLETIONS, EXECUTIONS):
        got = lines(run, name)
        assert len(got) == len(set(got)) == 12


class FlakyExecutor(FakeExecutor):
    """Repeats its first verdict and drops its last one."""

    def run(self, checks: Iterable[Check], limits: SandboxLimits) -> Iterator[Execution]:
        items = list(super().run(checks, limits))
        yield items[0]
        yield from items[:-1]


def test_executor_repeats_and_drops_are_handled(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="1 sample\\(s\\) without a verdict"):
        pipeline.run_pipeline(spec(), executor=FlakyExecutor(), results_dir=tmp_path)
    run = pipeline.run_dir_for(spec(), tmp_path)
    assert len(lines(run, EXECUTIONS)) == 11
    [partial] = stages.score(run, toybench.ToyBench(), partial=True)
    assert partial.problems == 5 and partial.samples == 10  # the unfinished problem left out
    assert not (run.path / "scores.json").exists()
    pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path)
    got = lines(run, EXECUTIONS)
    assert len(got) == len(set(got)) == 12


def test_style_follows_the_chat_template_unless_overridden(tmp_path: Path) -> None:
    backend = FakeBackend(responses={"def f": ["```python\ndef f0():\n    return 0\n```"]},
                          chat=True)
    r = pipeline.run_pipeline(spec(limit=1, sampling=SamplingParams()), executor=FakeExecutor(),
                              results_dir=tmp_path, backend_factory=lambda _: backend)
    assert r.manifest.prompt_style == "chat" and backend.calls[0][0].messages
    [c] = r.run.completions().values()
    assert c.raw.startswith("```python") and c.code == "def f0():\n    return 0"
    forced = spec(limit=1, sampling=SamplingParams(), prompt_style=PromptStyle.COMPLETION)
    r2 = pipeline.run_pipeline(forced, executor=FakeExecutor(), results_dir=tmp_path,
                               backend_factory=lambda _: FakeBackend(chat=True))
    assert r2.manifest.prompt_style == "completion"
    assert r2.run.run_id != r.run.run_id


def test_same_run_id_with_other_settings_is_refused(tmp_path: Path) -> None:
    pipeline.run_pipeline(spec(run_id="r1"), executor=FakeExecutor(), results_dir=tmp_path)
    hotter = spec(run_id="r1", sampling=SamplingParams(n=2, temperature=0.8))
    with pytest.raises(UsageError, match="already exists with different options"):
        pipeline.run_pipeline(hotter, executor=FakeExecutor(), results_dir=tmp_path)


def test_problem_selection_and_limit(tmp_path: Path) -> None:
    r = pipeline.run_pipeline(spec(problems=("toy/4", "toy/1"), limit=1),
                              executor=FakeExecutor(), results_dir=tmp_path)
    assert r.manifest.problems == ("toy/4",)
    with pytest.raises(UsageError, match="unknown problem id"):
        pipeline.run_pipeline(spec(problems=("toy/99",)), executor=FakeExecutor(),
                              results_dir=tmp_path)


def test_comparability_key_tracks_what_changes_scores(tmp_path: Path) -> None:
    a = pipeline.run_pipeline(spec(run_id="a"), executor=FakeExecutor(),
                              results_dir=tmp_path).manifest
    b = pipeline.run_pipeline(spec(run_id="b", sampling=SamplingParams(n=2, seed=7)),
                              executor=FakeExecutor(), results_dir=tmp_path).manifest
    c = pipeline.run_pipeline(spec(run_id="c", prompt_preset="fewshot"),
                              executor=FakeExecutor(), results_dir=tmp_path).manifest
    assert comparability_key(a) == comparability_key(b)  # the seed is sampling noise
    assert comparability_key(a) != comparability_key(c)
    assert comparability_key(a) != comparability_key(dataclasses.replace(a, data_hash="x"))


class Streaming(FakeBackend):
    """A batching backend: every prompt in one call, each reported when done (here in reverse
    order); its decoder settings go into the comparability key. ``fail_at``: raise after
    that many prompts, keeping those."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__(responses=GOOD)
        self.fail_at = fail_at
        self.calls_made = 0

    def decoding(self) -> dict[str, object]:
        return {"decode": "batched", "n_parallel": 4}

    def generate_stream(self, prompts: list[Prompt], params: SamplingParams
                        ) -> Iterator[tuple[int, list[GenerationOutput]]]:
        self.calls_made += 1
        outputs = self.generate(prompts, params)
        done: dict[int, list[GenerationOutput]] = {}
        for at in reversed(range(len(prompts))):
            if self.fail_at is not None and len(done) == self.fail_at:
                raise PartialGenerationError("scripted stop", done)
            done[at] = outputs[at]
            yield at, outputs[at]


def test_streaming_backend_writes_each_problem_when_done(tmp_path: Path) -> None:
    plain = pipeline.run_pipeline(spec(run_id="plain"), executor=FakeExecutor(),
                                  results_dir=tmp_path)
    failing = Streaming(fail_at=2)
    with pytest.raises(PartialGenerationError, match="scripted stop"):
        pipeline.run_pipeline(spec(run_id="streamed"), executor=FakeExecutor(),
                              results_dir=tmp_path, backend_factory=lambda _: failing)
    run = pipeline.run_dir_for(spec(run_id="streamed"), tmp_path)
    assert failing.calls_made == 1  # all six problems in one call
    assert sorted(lines(run, COMPLETIONS)) == [(f"toy/{i}", j) for i in (4, 5) for j in (0, 1)]
    again = pipeline.run_pipeline(spec(run_id="streamed"), executor=FakeExecutor(),
                                  results_dir=tmp_path, backend_factory=lambda _: Streaming())
    assert again.generation is not None and again.generation.done_before == 4
    assert {k: c.raw for k, c in again.run.completions().items()} == {
        k: c.raw for k, c in plain.run.completions().items()}
    m = again.manifest
    assert m.extra["decoding"] == {"decode": "batched", "n_parallel": 4}
    assert m.comparability_fields()["decoding"] == {"decode": "batched", "n_parallel": 4}
    assert "decoding" not in plain.manifest.comparability_fields()  # older runs keep their key
    assert comparability_key(m) != comparability_key(plain.manifest)
    assert comparability_key(dataclasses.replace(m, extra={})) == comparability_key(
        plain.manifest)


def test_ingest_is_skipped_without_the_store(tmp_path: Path) -> None:
    try:
        import apr_eval.leaderboard.store  # noqa: F401
    except ModuleNotFoundError:
        r = pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path,
                                  db_path=tmp_path / "db.duckdb")
        assert r.ingested is False and not (tmp_path / "db.duckdb").exists()
    else:
        r = pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path,
                                  db_path=tmp_path / "db.duckdb")
        assert r.ingested is True and (tmp_path / "db.duckdb").exists()


class InfraFlakyExecutor(FakeExecutor):
    """Reports its second check (toy/0 sample 1, a passing one) as an infrastructure failure."""

    def run(self, checks: Iterable[Check], limits: SandboxLimits) -> Iterator[Execution]:
        for i, e in enumerate(super().run(checks, limits)):
            lost = dataclasses.replace(e, verdict=Verdict.INFRA_ERROR,
                                       group_verdicts={"base": Verdict.INFRA_ERROR})
            yield lost if i == 1 else e


def test_infra_errors_count_until_retried(tmp_path: Path) -> None:
    r = pipeline.run_pipeline(spec(), executor=InfraFlakyExecutor(), results_dir=tmp_path)
    [p1] = [s for s in r.scores if s.k == 1]
    assert p1.excluded == 1 and p1.pass_at_k < 0.5  # counted, as a failure
    again = pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path)
    assert again.execution.done_now == 0  # a plain rerun keeps the verdict
    bench = toybench.ToyBench()
    problems = list(bench.load())
    stats = pipeline.execute_stage(r.run, bench, problems, FakeExecutor(), spec().limits,
                                   progress=stages.NullProgress(),
                                   retry_infra_errors=True).stats
    assert stats.done_now == 1
    assert not any(e.verdict is Verdict.INFRA_ERROR for e in r.run.executions().values())
    [p1] = [s for s in stages.score(r.run, bench) if s.k == 1]
    assert p1.excluded == 0 and p1.pass_at_k == pytest.approx(0.5)
    assert len(lines(r.run, EXECUTIONS)) == 13  # the file keeps both lines of that sample


def test_a_run_reads_executions_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The execute stage hands the verdicts it read and appended, and the completions it read,
    to scoring: one read of executions.jsonl per run, fresh or resumed (appending reads only
    the file's last byte); completions.jsonl is read by generation and by execution."""
    reads: list[str] = []
    whole = rundir.read_jsonl

    def counted(path: Path) -> Iterator[dict[str, object]]:
        reads.append(path.name)
        return whole(path)

    monkeypatch.setattr(rundir, "read_jsonl", counted)
    first = pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path)
    assert reads.count(EXECUTIONS) == 1 and len(first.scores) > 0
    assert reads.count(COMPLETIONS) == 2
    (first.run.path / "scores.json").unlink()
    with (first.run.path / EXECUTIONS).open("rb+") as f:  # lose the last verdict
        f.truncate(len(f.read().rstrip(b"\n").rsplit(b"\n", 1)[0]) + 1)
    reads.clear()
    again = pipeline.run_pipeline(spec(), executor=FakeExecutor(), results_dir=tmp_path)
    assert reads.count(EXECUTIONS) == 1 and reads.count(COMPLETIONS) == 2
    assert again.execution.done_now == 1 and again.scores == first.scores
