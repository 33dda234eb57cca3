"""Samples cut short are visible: in scores.json, in the run's output, in compare's notes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import toybench

from apr_eval.core import Completion, GenerationOutput, Prompt, RunSpec, SamplingParams
from apr_eval.harness.generation.backends.fake import FakeBackend
from apr_eval.harness.regression.compare import compare_runs
from apr_eval.harness.run import pipeline
from apr_eval.harness.run.rundir import RunDir
from apr_eval.harness.run.truncation import Truncation, count, truncation_note
from apr_eval.sandbox.executor import FakeExecutor

toybench.register()
THINKING = "<think>first I will consider"  # the budget ran out inside the reasoning


class CutBackend(FakeBackend):
    """Reports "length" for every output that is still thinking, as engines do at max_tokens."""

    def generate(self, prompts: Sequence[Prompt],
                 params: SamplingParams) -> list[list[GenerationOutput]]:
        return [[GenerationOutput(o.text, "length" if o.text.startswith("<think>") else "stop",
                                  o.tokens) for o in outs]
                for outs in super().generate(prompts, params)]


def run(tmp_path: Path, run_id: str, second: str) -> RunDir:
    spec = RunSpec(model="fake", benchmark="toy", backend="fake", run_id=run_id,
                   sampling=SamplingParams(n=2), executor="fake")

    def backend(_: RunSpec) -> FakeBackend:
        return CutBackend(responses={"def f": ["    return 1\n", second]})

    return pipeline.run_pipeline(spec, executor=FakeExecutor(), results_dir=tmp_path,
                                 backend_factory=backend).run


def test_scores_json_counts_samples_cut_by_max_tokens_and_unclosed_reasoning(
        tmp_path: Path) -> None:
    r = run(tmp_path, "cut", THINKING)
    [score] = json.loads((r.path / "scores.json").read_text())
    assert score["samples"] == 12 and score["truncated"] == 6
    assert score["truncated_reasoning"] == 6
    # the thinking text is never run as code: its program is empty, and a failure
    cut = [c for c in r.completions().values() if c.raw == THINKING]
    assert len(cut) == 6 and all(c.code == "" for c in cut)
    assert score["pass_at_k"] == 0.25  # half the problems pass sample 0 only
    assert r.manifest().extra["prompt"] == {"opens_reasoning": False}


def test_compare_flags_runs_whose_truncation_shares_differ(tmp_path: Path) -> None:
    a = run(tmp_path, "a", "    return 0\n")
    b = run(tmp_path, "b", THINKING)
    notes = compare_runs(a, b).notes
    [note] = [n for n in notes if n.startswith("truncation differs")]
    assert "0/12 samples (0.0%) of A vs 6/12 (50.0%) of B" in note
    assert not any(n.startswith("truncation") for n in compare_runs(a, a).notes)


def test_truncation_counts_and_the_note_threshold() -> None:
    def c(i: int, finish: str, raw: str = "x") -> Completion:
        return Completion("r", f"p/{i}", 0, raw, "", finish_reason=finish)

    t = count([c(0, "length", "<think>a"), c(1, "stop"), c(2, "length"), c(3, "stop")])
    assert (t.samples, t.length, t.reasoning, t.share) == (4, 2, 1, 0.5)
    assert count([c(0, "stop", "no tags here")], opened=True).reasoning == 1
    assert truncation_note(Truncation(100, 2, 0), Truncation(100, 5, 0)) is None  # 3 pp
    assert truncation_note(Truncation(100, 2, 0), Truncation(100, 6, 0)) is not None
    assert truncation_note(Truncation(0, 0, 0), Truncation(0, 0, 0)) is None
