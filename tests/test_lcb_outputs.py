"""Reading programs made elsewhere and writing verdicts in lcb_runner's eval_all shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apr_eval.benchmarks.livecodebench import LiveCodeBench
from apr_eval.core import Execution, FailingTest, Verdict
from apr_eval.errors import DataError
from apr_eval.harness.interop.lcb_out import write_eval_all
from apr_eval.harness.interop.samples import read_lcb_samples


def test_reads_lcb_runner_output_and_our_jsonl(tmp_path: Path) -> None:
    lcb = tmp_path / "out.json"
    lcb.write_text(json.dumps([{"question_id": "abc1", "code_list": ["print(1)", "print(2)"],
                                "output_list": ["x", "y"]}]))
    assert read_lcb_samples(str(lcb)) == [("abc1", 0, "print(1)"), ("abc1", 1, "print(2)")]
    ours = tmp_path / "samples.jsonl"
    ours.write_text('{"problem_id": "3708", "code": "a"}\n\n{"problem_id": "3708", "code": "b"}\n'
                    '{"question_id": "x", "sample_index": 5, "solution": "c"}\n')
    assert read_lcb_samples(str(ours)) == [("3708", 0, "a"), ("3708", 1, "b"), ("x", 5, "c")]


@pytest.mark.parametrize("text", ['[{"question_id": "a"}]', '{"problem_id": 1}\n', "[oops"])
def test_bad_samples_files(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(DataError):
        read_lcb_samples(str(bad))
    with pytest.raises(DataError, match="cannot read samples"):
        read_lcb_samples(str(tmp_path / "missing.json"))


def test_eval_all_shape(tmp_path: Path) -> None:
    problems = [p for p in LiveCodeBench().load() if p.problem_id in ("abc387_b", "3708")]
    execs = [
        Execution("abc387_b", 0, Verdict.PASSED, duration_s=0.5),
        Execution("abc387_b", 1, Verdict.FAILED,
                  failing=FailingTest("tests", 1, "11", "2025", "7\n", "Wrong answer at ...")),
        Execution("abc387_b", 2, Verdict.ERROR, detail="SyntaxError: bad",
                  failing=FailingTest("tests", 0, "1", "2024", None, "load_error: SyntaxError")),
        Execution("3708", 0, Verdict.TIMEOUT,
                  failing=FailingTest("tests", 0, [[[1, 2]]], [1], None, "Time Limit Exceeded")),
    ]
    codes = {("abc387_b", 0): "a", ("abc387_b", 1): "b", ("abc387_b", 2): "(", ("3708", 0): "c"}
    out = tmp_path / "eval_all.json"
    assert write_eval_all(out, problems, codes, execs) == 2
    rows = {r["question_id"]: r for r in json.loads(out.read_text())}
    assert rows["abc387_b"]["graded_list"] == [True, False, False]
    assert rows["abc387_b"]["pass@1"] == 1 / 3
    assert rows["abc387_b"]["code_list"] == ["a", "b", "("]
    meta = [json.loads(m) for m in rows["abc387_b"]["metadata"]]
    assert meta[0] == {"execution time": 0.5}
    assert meta[1]["error_code"] == -2 and meta[1]["output"] == "7\n" and \
        meta[1]["inputs"] == "11" and meta[1]["expected"] == "2025"
    assert meta[2]["error_code"] == -4 and "inputs" not in meta[2]
    assert meta[2]["error_message"].startswith("Error during testing")
    timeout = json.loads(rows["3708"]["metadata"][0])
    assert timeout["error_code"] == -3 and timeout["error_message"] == "Time Limit Exceeded"
    assert rows["3708"]["contest_date"] == "2025-01-11T18:30:00"
    # what we write, lcb_runner-shaped, reads back as samples
    assert sorted(read_lcb_samples(str(out))) == sorted((*k, v) for k, v in codes.items())
