"""``apr-eval run`` / ``generate`` / ``execute`` / ``score`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import toybench

from apr_eval.cli import entrypoint
from apr_eval.harness.run.rundir import COMPLETIONS, EXECUTIONS, RunDir, read_jsonl

toybench.register()
RESPONSES = "responses=" + json.dumps({"def f": ["    return 1\n"]})


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        entrypoint(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def base(tmp: Path, *extra: str) -> list[str]:
    return ["--bench", "toy", "--dry-run", "--executor", "fake", "--results-dir", str(tmp),
            "--backend-option", RESPONSES, *extra]


def only_run(tmp: Path) -> RunDir:
    [path] = [p.parent for p in tmp.glob("*/manifest.json")]
    return RunDir(path)


def test_run_prints_run_id_scores_and_where(tmp_path: Path, capsys) -> None:
    code, out, err = cli(capsys, "run", *base(tmp_path, "--no-ingest"))
    assert code == 0, err
    run = only_run(tmp_path)
    assert f"run id: {run.run_id}" in out and f"run id: {run.run_id}" in err
    assert "toy          pass@1   0.5000" in out
    assert f"results: {run.path}/" in out


def test_stages_one_by_one(tmp_path: Path, capsys) -> None:
    code, out, err = cli(capsys, "generate", *base(tmp_path, "--n-samples", "2", "--run-id",
                                                    "staged"))
    assert code == 0, err
    run = RunDir(tmp_path / "staged")
    assert len(list(read_jsonl(run.path / COMPLETIONS))) == 12
    assert not (run.path / EXECUTIONS).exists()
    code, out, err = cli(capsys, "score", "staged", "--results-dir", str(tmp_path))
    assert code == 2 and "12 sample(s) without a verdict" in err and len(err.splitlines()) == 1
    code, out, err = cli(capsys, "score", "staged", "--results-dir", str(tmp_path), "--partial")
    assert code == 0 and "partial: 0 of 6 problems" in out
    code, out, err = cli(capsys, "execute", str(run.path), "--executor", "fake")
    assert code == 0 and "12/12 done" in out, err
    code, out, err = cli(capsys, "score", "staged", "--results-dir", str(tmp_path))
    assert code == 0 and "pass@1   0.5000" in out
    assert json.loads((run.path / "scores.json").read_text())[0]["samples"] == 12


def test_unknown_backend_is_one_line_with_a_suggestion(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "run", "--bench", "toy", "--backend", "lamacpp",
                         "--executor", "fake", "--results-dir", str(tmp_path))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Did you mean 'llamacpp'" in err


def test_backend_dying_mid_run_keeps_finished_samples(tmp_path: Path, capsys) -> None:
    args = base(tmp_path, "--backend-option", "fail_after=4", "--run-id", "dies")
    code, _, err = cli(capsys, "run", *args)
    assert code == 4
    assert err.strip().splitlines()[-1] == \
        "apr-eval: error: fake backend: scripted failure after 4 prompt(s)"
    assert len(list(read_jsonl(tmp_path / "dies" / COMPLETIONS))) == 4


@pytest.mark.parametrize(("args", "message"), [
    (["--backend-option", "novalue"], "--backend-option expects KEY=VALUE"),
    (["--backend-option", "colour=red"], "fake backend: unknown option(s) colour"),
    (["--prompt-preset", "nope"], "unknown prompt preset 'nope'"),
    (["--problems", "toy/0,HumanEval/1"], "unknown problem id(s): HumanEval/1"),
    (["--run-id", "../escape"], "bad run id '../escape'"),
    (["--bench", "humaneavl"], "unknown benchmark 'humaneavl'"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, capsys, args: list[str],
                                     message: str) -> None:
    code, _, err = cli(capsys, "run", *base(tmp_path), *args)
    assert code == 2, err
    assert message in err and err.strip().startswith("apr-eval: error:")
    assert len(err.strip().splitlines()) == 1


def test_root_command_runs_the_main_job(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("APR_EVAL_RESULTS", str(tmp_path))
    code, _, err = cli(capsys, "--model", "m.gguf", "--bench", "toy")
    # the default backend (llamacpp) is tried: either it is not built in this checkout, or
    # the model file is missing; either way one line and a non-zero exit
    assert code != 0 and len(err.strip().splitlines()) == 1, err


def test_root_command_takes_every_run_option(tmp_path: Path, capsys) -> None:
    args = base(tmp_path, "--no-ingest", "--n-samples", "2", "--temperature", "0.8",
                "--limit", "3", "--seed", "4", "--max-tokens", "16")
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    run = only_run(tmp_path)
    spec = run.manifest().extra["spec"]
    assert spec["limit"] == 3 and spec["sampling"]["n"] == 2 and spec["sampling"]["seed"] == 4
    assert spec["sampling"]["temperature"] == 0.8 and len(run.completions()) == 6
    # exactly `apr-eval run ...`: the same options resume the same run, nothing left to do
    code, again, err = cli(capsys, "run", *args)
    assert code == 0 and f"run id: {run.run_id}" in again, err
    code, _, err = cli(capsys, "--bench", "toy", "--no-such-option")
    assert code == 2 and "No such option '--no-such-option'" in err


def test_version_without_v_is_accepted(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "--bench", "humaneval", "--version", "0.1.9", "--dry-run",
                         "--executor", "fake", "--limit", "1", "--no-ingest",
                         "--results-dir", str(tmp_path))
    assert code == 0, err
    assert only_run(tmp_path).manifest().benchmark_version == "v0.1.9"


def test_evalplus_out_is_written_in_evalplus_shape(tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "eval_results.json"
    code, out, err = cli(capsys, "run", *base(tmp_path, "--no-ingest", "--evalplus-out",
                                               str(out_file)))
    assert code == 0 and f"evalplus-format results: {out_file}" in out, err
    data = json.loads(out_file.read_text())
    assert sorted(data["eval"]) == [f"toy/{i}" for i in range(6)]
    row = data["eval"]["toy/1"][0]
    assert row["base_status"] == "pass" and row["solution"].startswith("def f1():")
    assert data["eval"]["toy/0"][0]["base_status"] == "fail" and data["hash"] == "toy-6"


def test_lcb_out_is_written_in_lcb_runner_shape(tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "eval_all.json"
    code, out, err = cli(capsys, "run", "--bench", "livecodebench", "--dry-run", "--executor",
                         "fake", "--limit", "2", "--results-dir", str(tmp_path), "--no-ingest",
                         "--lcb-out", str(out_file))
    assert code == 0 and f"LiveCodeBench-format results: {out_file}" in out, err
    rows = json.loads(out_file.read_text())
    assert len(rows) == 2 and all(r["graded_list"] == [False] for r in rows)
