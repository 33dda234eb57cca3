"""Loader, prompts and bad input for LiveCodeBench."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from datetime import date
from pathlib import Path

import pytest

from apr_eval.benchmarks.base import Benchmark, extract, open_benchmark
from apr_eval.benchmarks.lcb_decode import encode_compressed
from apr_eval.benchmarks.livecodebench import LiveCodeBench, delta_files
from apr_eval.core import ExecMode, PromptStyle, SandboxLimits
from apr_eval.errors import DataError, UsageError


@pytest.fixture(scope="module")
def embedded() -> LiveCodeBench:
    bench = open_benchmark("livecodebench")
    assert isinstance(bench, LiveCodeBench) and isinstance(bench, Benchmark)  # whole protocol
    return bench


def test_embedded_problems(embedded: LiveCodeBench) -> None:
    problems = embedded.load()
    assert len(problems) == 342 and len({p.problem_id for p in problems}) == 342
    assert embedded.limits and "public tests only" in embedded.limits[0]
    by_release = {r: [p for p in problems if p.metadata["release"] == r] for r in ("v5", "v6")}
    assert len(by_release["v5"]) == 167 and len(by_release["v6"]) == 175
    assert max(p.release_date for p in by_release["v5"]) == date(2025, 1, 4)
    lc = [p for p in problems if p.metadata["platform"] == "leetcode"]
    assert len(lc) == 125 and all(p.entry_point and p.starter_code for p in lc)
    assert all(p.metadata["func_name"] == p.entry_point for p in lc)
    assert all(not p.entry_point for p in problems if p.metadata["platform"] == "atcoder")
    assert {p.difficulty for p in problems} == {"easy", "medium", "hard"}
    assert all(1 <= len(p.metadata["tests"]) <= 6 for p in problems)
    assert embedded.data_hash.startswith("sha256:")


def test_prompts(embedded: LiveCodeBench) -> None:
    problems = {p.problem_id: p for p in embedded.load()}
    stdin, func = problems["abc387_b"], problems["3708"]
    chat = embedded.render_prompt(func, PromptStyle.CHAT)
    assert chat.messages[0].role == "system" and "expert Python programmer" in \
        chat.messages[0].content
    user = chat.messages[1].content
    assert user.startswith("### Question:\n" + func.prompt)
    assert f"```python\n{func.starter_code}\n```" in user and "starter code" in user
    assert "Read the inputs from stdin" in embedded.render_prompt(stdin, PromptStyle.CHAT) \
        .messages[1].content
    base = embedded.render_prompt(func, PromptStyle.COMPLETION)
    assert base.text.endswith(f"### Question\n{func.prompt}\n\n### Starter Code\n"
                              f"{func.starter_code}\n\n### Answer\n\n")
    assert "### Starter Code" not in embedded.render_prompt(stdin, PromptStyle.COMPLETION).text


def test_build_check_modes(embedded: LiveCodeBench) -> None:
    problems = {p.problem_id: p for p in embedded.load()}
    check = embedded.build_check(problems["3708"], "class Solution: pass", 2, SandboxLimits())
    job = check.job
    assert job.mode is ExecMode.FUNCTION and job.entry_point == "Solution.zigzagTraversal"
    assert job.guard == "lcb" and job.key.sample_index == 2
    assert job.groups[0].inputs[0] == [[[1, 2], [3, 4]]] and job.groups[0].time_limits[0] == 6
    assert "from typing import *" in job.code and "[1, 4]" not in job.code  # no answers sent
    check = embedded.build_check(problems["abc387_b"], "print(1)", 0, SandboxLimits())
    assert check.job.mode is ExecMode.STDIO and check.job.entry_point == "wrapped_function"
    assert "2024" not in check.job.code + "".join(check.job.groups[0].inputs)
    with pytest.raises(UsageError, match="no reference solutions"):
        embedded.canonical_solution(problems["abc387_b"])


def _row(qid: str, private: str, day: str = "2024-05-01T00:00:00") -> dict[str, str]:
    return {"question_title": "t", "question_content": "q", "platform": "atcoder",
            "question_id": qid, "contest_id": "c", "contest_date": day, "starter_code": "",
            "difficulty": "easy", "metadata": "{}", "private_test_cases": private,
            "public_test_cases": json.dumps([{"input": "1\n", "output": "1\n",
                                              "testtype": "stdin"}])}


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_local_release_with_private_tests(tmp_path: Path) -> None:
    private = encode_compressed(json.dumps([{"input": "2\n", "output": "2\n",
                                             "testtype": "stdin"}] * 3))
    _write(tmp_path / "test.jsonl", [_row("a1", private)])
    _write(tmp_path / "test2.jsonl", [_row("a2", "[]", "2024-09-01T00:00:00")])
    v2 = open_benchmark("livecodebench", version="release_v2", path=str(tmp_path))
    problems = {p.problem_id: p for p in v2.load()}
    assert set(problems) == {"a1", "a2"} and not v2.limits
    assert [t.input for t in problems["a1"].metadata["tests"]] == ["1\n", "2\n", "2\n", "2\n"]
    only2 = open_benchmark("livecodebench", version="v2", path=str(tmp_path))
    assert [p.problem_id for p in only2.load()] == ["a2"]
    assert only2.data_hash != v2.data_hash


def test_delta_files() -> None:
    assert delta_files("release_v3") == ("test.jsonl", "test2.jsonl", "test3.jsonl")
    assert delta_files("v5_v6") == ("test5.jsonl", "test6.jsonl")
    assert len(delta_files("release_latest")) == 6


def test_unknown_release() -> None:
    with pytest.raises(UsageError, match=r"unknown LiveCodeBench release 'release_v9'"):
        open_benchmark("livecodebench", version="release_v9")


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        open_benchmark("livecodebench", version="release_v1", path=str(tmp_path / "x")).load()
    _write(tmp_path / "test.jsonl", [_row("a1", "[]")])
    with pytest.raises(DataError, match=r"test2\.jsonl"):
        open_benchmark("livecodebench", version="release_v2", path=str(tmp_path)).load()


def test_corrupt_and_hostile_test_fields(tmp_path: Path) -> None:
    _write(tmp_path / "test.jsonl", [_row("bad1", "@@@ not a test field")])
    with pytest.raises(DataError, match="bad1 private_test_cases"):
        open_benchmark("livecodebench", version="v1", path=str(tmp_path)).load()
    evil = base64.b64encode(zlib.compress(pickle.dumps(print, protocol=4))).decode()
    _write(tmp_path / "test.jsonl", [_row("bad2", evil)])
    with pytest.raises(DataError, match="refused pickle opcode"):
        open_benchmark("livecodebench", version="v1", path=str(tmp_path)).load()


def test_bad_options() -> None:
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        open_benchmark("livecodebench", start_date="Jan 2025")
    with pytest.raises(UsageError, match="unknown option"):
        open_benchmark("livecodebench", colour="red")
    with pytest.raises(UsageError, match="empty"):
        open_benchmark("livecodebench", start_date="2025-02-01", end_date="2025-01-01")


def test_hub_release_goes_through_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network here: a fake ``datasets.load_dataset`` records what the loader asks for."""
    import datasets

    asked: dict[str, object] = {}

    def fake_load_dataset(kind: str, data_files: list[str], split: str) -> list[dict[str, str]]:
        asked.update(kind=kind, data_files=data_files, split=split)
        return [_row("h1", encode_compressed("[]"))]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    problems = open_benchmark("livecodebench", version="release_v2").load()
    assert [p.problem_id for p in problems] == ["h1"]
    assert asked == {"kind": "json", "split": "train", "data_files": [
        "hf://datasets/livecodebench/code_generation_lite/test.jsonl",
        "hf://datasets/livecodebench/code_generation_lite/test2.jsonl"]}

    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="could not load livecodebench/code_generation_lite"):
        open_benchmark("livecodebench", version="v6").load()


def test_assemble_takes_the_last_code_block(embedded: LiveCodeBench) -> None:
    problem = embedded.load()[0]
    chat = "Here:\n```python\nprint(1)\n```\nor better\n```python\nprint(2)\nprint(3)\n```\nbye"
    assert embedded.assemble(problem, chat) == "print(2)\nprint(3)"
    assert embedded.assemble(problem, "  print(4)\n") == "print(4)"


# Raw model outputs and what lcb_runner's extract_code (chat and *Base styles) makes of them.
LCB_EXTRACTS = [
    ("Here:\n```python\nprint(1)\n```\nor better\n```python\nprint(2)\nprint(3)\n```\nbye",
     "print(2)\nprint(3)"),
    ("print(4)\n", ""),  # fewer than two fence lines: upstream's empty program
    ("```python\nprint(5)\n```", "print(5)"),
    ("<think>```python\nprint(0)\n```</think>\n```python\nprint(6)\n```", "print(6)"),
    ("```python\nx = 1\n", ""),  # an unclosed block (a truncated answer)
]


@pytest.mark.parametrize("style", list(PromptStyle))
def test_run_extracts_what_lcb_runner_puts_in_code_list(embedded: LiveCodeBench,
                                                        style: PromptStyle,
                                                        tmp_path: Path) -> None:
    """``run`` turns raw output into the program by the benchmark's extraction, lcb_runner's;
    ``evaluate`` on lcb_runner's code_list (the same extraction, made there) reads the same
    programs back."""
    from apr_eval.harness.interop.samples import read_samples

    problem = embedded.load()[0]
    prompt = embedded.render_prompt(problem, style)
    ran = [extract(embedded, problem, prompt, raw) for raw, _ in LCB_EXTRACTS]
    assert ran == [code for _, code in LCB_EXTRACTS]
    path = tmp_path / "lcb.json"
    path.write_text(json.dumps([{"question_id": problem.problem_id, "code_list": ran}]))
    samples = read_samples(path, {problem.problem_id}, lambda pid, c: c)
    assert [s.code for s in samples] == ran


def test_data_hash_ignores_how_dates_arrive(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    import datasets

    _write(tmp_path / "test.jsonl", [_row("a1", "[]")])
    local = open_benchmark("livecodebench", version="v1", path=str(tmp_path)).data_hash
    hub_row = dict(_row("a1", "[]"), contest_date=datetime(2024, 5, 1))  # arrow timestamp
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: [hub_row])
    assert open_benchmark("livecodebench", version="v1").data_hash == local
