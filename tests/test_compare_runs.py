"""`apr-eval compare`: comparability refusal, paired scores, flip lists, formats, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nightly_support import E, F, P, T, problems, run_cli, write_run

from apr_eval.core import ModelInfo
from apr_eval.harness.regression.compare import compare_runs, resolve_run
from apr_eval.harness.regression.report import comparison_markdown


@pytest.fixture
def regressed(tmp_path: Path) -> tuple[Path, Path]:
    """20 problems all passed by A; B fails 4 on base (wrong answer) and 3 on plus (timeout)."""
    pids = problems(20)
    a = write_run(tmp_path, "run-a", {p: [(P, P)] for p in pids})
    b_samples = {p: [(P, P)] for p in pids}
    for p in pids[:4]:
        b_samples[p] = [(F, P)]
    for p in pids[10:13]:
        b_samples[p] = [(P, T)]
    b_samples[pids[19]] = [(P, P)]
    b = write_run(tmp_path, "run-b", b_samples, model="model-b",
                  created_at="2026-11-25T00:00:00+00:00")
    return a.path, b.path


def test_regression_scores_flips_and_kinds(regressed: tuple[Path, Path]) -> None:
    a, b = regressed
    from apr_eval.harness.run.rundir import RunDir

    c = compare_runs(RunDir(a), RunDir(b))
    base, plus = c.scores
    assert (base.score, plus.score) == ("humaneval", "humaneval+")
    assert base.pass_a == 1.0 and base.pass_b == pytest.approx(16 / 20)
    assert plus.pass_b == pytest.approx(13 / 20)
    # base: 4 discordant pairs one way -> p = 2 / 16 = 0.125: a drop, but not significant.
    assert base.test.name == "mcnemar-exact"
    assert base.test.p_value == pytest.approx(0.125)
    assert not base.regressed
    # plus: 7 one way -> p = 2 / 128.
    assert plus.test.p_value == pytest.approx(2 / 128)
    assert plus.p_adjusted == pytest.approx(2 * 2 / 128)  # Holm with humaneval (one family)
    assert plus.regressed and c.regressed
    assert [f.problem_id for f in base.lost] == sorted(problems(20)[:4])
    kinds = {f.problem_id: dict(f.kinds) for f in plus.lost}
    assert kinds == {**{p: {"failed": 1} for p in problems(20)[:4]},
                     **{p: {"timeout": 1} for p in problems(20)[10:13]}}
    assert plus.gained == ()
    assert plus.delta.estimate == pytest.approx(-0.35)
    assert plus.delta.low <= -0.35 < plus.delta.high < 0
    # The interval agrees with the test: base's is not significant and includes 0.
    assert base.delta.low < 0 < base.delta.high
    assert plus.mde_pp > 0 and base.interval_question.startswith("these problems")


def test_cli_exit_codes_and_formats(regressed: tuple[Path, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    a, b = regressed
    code, out, _ = run_cli(capsys, "compare", str(a), str(b), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["regressed"] is True
    plus = data["scores"][1]
    assert len(plus["lost"]) == 7 and plus["regressed"] is True
    code, out, _ = run_cli(capsys, "compare", str(a), str(b), "--format", "md")
    assert code == 1
    assert "| humaneval+ | 20 | 1 | 100.00 | 65.00 | -35.00 |" in out
    assert "REGRESSED" in out and "| HumanEval/10 | 1/1 | 0/1 | timeout |" in out
    code, out, _ = run_cli(capsys, "compare", str(a), str(b))
    assert code == 1 and "REGRESSED" in out and "humaneval+" in out
    # The same runs the other way round: B improved on A, nothing regressed.
    code, out, _ = run_cli(capsys, "compare", str(b), str(a), "--format", "md")
    assert code == 0 and "improved" in out and "REGRESSED" not in out
    # A 35 pp drop is allowed when the allowance is larger.
    code, _, _ = run_cli(capsys, "compare", str(a), str(b), "--max-drop", "40")
    assert code == 0


def test_identical_runs_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = {p: [(P, P)] if i % 3 else [(F, F)] for i, p in enumerate(problems(12))}
    write_run(tmp_path, "one", samples)
    write_run(tmp_path, "two", samples, created_at="2026-11-25T00:00:00+00:00")
    code, out, _ = run_cli(capsys, "compare", "one", "two", "--results-dir", str(tmp_path),
                           "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert all(s["lost"] == [] and s["gained"] == [] for s in data["scores"])
    assert all(s["test"]["p_value"] == 1.0 for s in data["scores"])


def test_different_dataset_version_refused_naming_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = {p: [(P, P)] for p in problems(5)}
    write_run(tmp_path, "old", samples, benchmark_version="v0.1.9")
    write_run(tmp_path, "new", samples, benchmark_version="v0.1.10")
    code, out, err = run_cli(capsys, "compare", "old", "new", "--results-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "benchmark_version differs ('v0.1.9' vs 'v0.1.10')" in err
    assert "data_hash" not in err and "--force" in err
    code, out, err = run_cli(capsys, "compare", "old", "new", "--results-dir", str(tmp_path),
                             "--force", "--format", "md")
    assert code == 0
    assert "WARNING" in err and "benchmark_version" in err
    assert "WARNING" in out


@pytest.mark.parametrize(("override", "field"), [
    ({"data_hash": "zzz"}, "data_hash"),
    ({"prompt_preset": "evalplus"}, "prompt_preset"),
    ({"sandbox": {"memory_mb": 1024, "pids": 256}}, "sandbox.memory_mb"),
])
def test_each_score_changing_field_is_named(tmp_path: Path, override: dict[str, object],
                                            field: str) -> None:
    samples = {p: [(P, P)] for p in problems(3)}
    a = write_run(tmp_path, "a", samples)
    b = write_run(tmp_path, "b", samples, **override)  # type: ignore[arg-type]
    from apr_eval.harness.regression.compare import ComparabilityError

    with pytest.raises(ComparabilityError, match=rf"{field} differs"):
        compare_runs(a, b)


def test_sampling_and_benchmark_differences(tmp_path: Path) -> None:
    from apr_eval.core import SamplingParams
    from apr_eval.harness.regression.compare import ComparabilityError

    samples = {p: [(P, P)] for p in problems(3)}
    a = write_run(tmp_path, "a", samples)
    b = write_run(tmp_path, "b", samples, sampling=SamplingParams(max_tokens=512))
    with pytest.raises(ComparabilityError, match="max_tokens differs"):
        compare_runs(a, b)
    c = write_run(tmp_path, "c", samples, benchmark="mbpp")
    with pytest.raises(ComparabilityError, match="benchmark differs") as info:
        compare_runs(a, c, force=True)  # cannot be forced: the scores are different things
    assert "--force" not in str(info.value)


def test_many_samples_use_a_paired_t_over_problems(tmp_path: Path) -> None:
    pids = problems(30)
    a = write_run(tmp_path, "a", {p: [(P, P)] * 4 for p in pids})
    # B loses one or two of four samples on 12 problems, timeouts on some.
    b_samples = {p: [(P, P)] * 4 for p in pids}
    for p in pids[:12]:
        b_samples[p] = [(P, P), (P, P), (F, F), (P, T)]
    b = write_run(tmp_path, "b", b_samples)
    c = compare_runs(a, b)
    plus = c.scores[1]
    assert plus.samples == 4
    from scipy import stats as sps

    assert plus.test.name == "paired-t"  # problems are the clusters, not samples
    diff = [-0.5] * 12 + [0.0] * 18
    assert plus.test.p_value == pytest.approx(sps.ttest_1samp(diff, 0.0).pvalue)
    assert plus.pass_b == pytest.approx((18 + 12 * 0.5) / 30)
    # 4/4 -> 2/4 on one problem is not a real flip on its own (Fisher p = 0.43).
    assert plus.lost == () and len(plus.changed) == 12
    assert dict(plus.changed[0].kinds) == {"failed": 1, "timeout": 1}
    text = comparison_markdown(c)
    assert "12 more problems moved without a significant change" in text
    assert "| HumanEval/0 | 4/4 | 2/4 | failed, timeout | 1.0000 |" in text


def test_incomplete_run_is_noted_and_compared_on_shared_problems(tmp_path: Path) -> None:
    pids = problems(10)
    a = write_run(tmp_path, "a", {p: [(P, P)] for p in pids})
    b = write_run(tmp_path, "b", {p: [(P, P)] for p in pids[:8]}, problems=tuple(pids))
    c = compare_runs(a, b)
    assert c.scores[0].problems == 8
    assert any("run B (b) is incomplete: 2 of 10" in n for n in c.notes)


def test_resolve_run_refs(tmp_path: Path) -> None:
    samples = {p: [(E, E)] for p in problems(2)}
    write_run(tmp_path, "r1", samples, model="qwen", created_at="2026-11-20T00:00:00+00:00")
    write_run(tmp_path, "r2", samples, model="qwen", created_at="2026-11-22T00:00:00+00:00")
    write_run(tmp_path, "r3", samples, model="qwen", created_at="2026-11-21T00:00:00+00:00",
              benchmark="mbpp")
    write_run(tmp_path, "r4", samples, model="llama", created_at="2026-11-23T00:00:00+00:00")
    assert resolve_run("latest:qwen:humaneval", tmp_path).run_id == "r2"
    assert resolve_run("previous:qwen:humaneval", tmp_path).run_id == "r1"
    assert resolve_run("latest:qwen:mbpp", tmp_path).run_id == "r3"
    assert resolve_run("latest:llama", tmp_path).run_id == "r4"
    assert resolve_run("r3", tmp_path).run_id == "r3"
    assert resolve_run(str(tmp_path / "r1"), tmp_path).run_id == "r1"
    from apr_eval.errors import UsageError

    with pytest.raises(UsageError, match="has runs on humaneval, mbpp"):
        resolve_run("latest:qwen", tmp_path)
    with pytest.raises(UsageError, match="did you mean 'llama'"):
        resolve_run("latest:lama", tmp_path)
    with pytest.raises(UsageError, match="only 1 run"):
        resolve_run("previous:llama", tmp_path)
    with pytest.raises(UsageError, match="did you mean 'r2'"):
        resolve_run("r22", tmp_path)


def test_engine_build_difference_is_a_note_not_a_refusal(tmp_path: Path) -> None:
    """Greedy texts depend on the llama.cpp build and CPU features: a comparison across
    machines is allowed (it is often the point) but says so."""
    samples = {p: [(P, P)] for p in problems(4)}
    engine = {"engine": "llama-cpp-python", "engine_version": "0.3.36"}
    a = write_run(tmp_path, "avx2", samples,
                  model=ModelInfo(name="m", engine_build="CPU : AVX2 = 1", **engine))
    b = write_run(tmp_path, "avx512", samples,
                  model=ModelInfo(name="m", engine_build="CPU : AVX512 = 1", **engine))
    c = write_run(tmp_path, "same", samples,
                  model=ModelInfo(name="m", engine_build="CPU : AVX2 = 1", **engine))
    noted = compare_runs(a, b).notes
    assert any("generation engine_build differs" in n for n in noted)
    assert not any("generation" in n for n in compare_runs(a, c).notes)
