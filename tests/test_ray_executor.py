"""The Ray executor's driver side without a cluster: the install hint, the retry policy it
shares with the local executor, and the stranded-run fallback. The real cluster is in
test_ray_cluster.py."""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path

import pytest

from apr_eval.benchmarks.evalplus_common import EvalplusJudge, Expected
from apr_eval.core import Check, ExecMode, Job, SampleKey, TestGroup, Verdict
from apr_eval.sandbox import codec
from apr_eval.sandbox.container import Stream
from apr_eval.sandbox.docker_executor import RETRIES
from apr_eval.sandbox.ray_executor import STRANDED_S, RayExecutor, _Attempt, _strand

INPUTS = ((1, 2), (3, 4))
GROUP = TestGroup("base", INPUTS, (1.0, 1.0), deadline_s=4.0)


def check(name: str) -> Check:
    job = Job(SampleKey(name, 0), "def f(a, b):\n    return a + b\n", ExecMode.FUNCTION, "f",
              (GROUP,))
    return Check(job, EvalplusJudge("humaneval", name, 0, "f", 0.0,
                                    {"base": Expected(INPUTS, (3, 7))}))


def group_record(job: str, values: tuple[int, ...]) -> dict[str, object]:
    return {"t": "group", "job": job, "group": "base", "end": "completed",
            "outcomes": [["returned", codec.encode(v), "", 0.01] for v in values]}


def test_without_ray_the_cli_says_how_to_install_it(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from apr_eval.cli import entrypoint

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` -> ImportError
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "pass\n"}) + "\n")
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as exc:
        entrypoint(["evaluate", "--bench", "humaneval", "--samples", str(samples),
                    "--allow-missing", "--results", str(results), "--executor", "ray"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "pip install 'apr-eval[ray]'" in err
    assert len(err.strip().splitlines()) == 1
    assert not results.exists() or not any(results.iterdir())


def test_judged_on_the_driver_lost_samples_retried_alone() -> None:
    a, b = check("a"), check("b")
    queue: deque[_Attempt] = deque()
    # the container reported a's group (one wrong answer) then went away during b
    stream = Stream(records=[group_record("j0", (3, 8)), {"t": "begin", "job": "j1",
                                                          "group": "base"}],
                    exit_code=137)
    out = list(RayExecutor._settle(_Attempt([a, b], 0), stream, queue))
    assert [(e.problem_id, e.verdict) for e in out] == [("a", Verdict.FAILED)]
    assert out[0].failing is not None and out[0].failing.expected == 7  # judged here
    assert [(q.number, [c.job.key.problem_id for c in q.checks]) for q in queue] == [(1, ["b"])]


def test_infra_error_after_the_local_executors_retries() -> None:
    a = check("a")
    queue: deque[_Attempt] = deque()
    lost = Stream(error="ray task lost: NodeDiedError")
    assert list(RayExecutor._settle(_Attempt([a], RETRIES - 1), lost, queue)) == []
    attempt = queue.popleft()
    assert attempt.number == RETRIES
    (e,) = RayExecutor._settle(attempt, lost, queue)
    assert e.verdict is Verdict.INFRA_ERROR and "NodeDiedError" in e.detail
    assert e.group_verdicts == {"base": Verdict.INFRA_ERROR}
    assert not queue
    ok = Stream(records=[group_record("j0", (3, 7))])
    assert [e.verdict for e in RayExecutor._settle(_Attempt([a], RETRIES), ok, queue)] == [
        Verdict.PASSED]


def test_stranded_run_still_gives_one_verdict_per_sample() -> None:
    queued = [_Attempt([check("a"), check("b")], 0)]
    flying = {object(): _Attempt([check("c")], 1)}
    out = list(_strand(queued, flying))
    assert sorted(e.problem_id for e in out) == ["a", "b", "c"]
    assert {e.verdict for e in out} == {Verdict.INFRA_ERROR}
    assert f"{STRANDED_S:.0f}s" in out[0].detail


def test_ray_address_only_with_the_ray_executor(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from apr_eval.cli import entrypoint

    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "pass\n"}) + "\n")
    with pytest.raises(SystemExit) as exc:
        entrypoint(["evaluate", "--bench", "humaneval", "--samples", str(samples),
                    "--allow-missing", "--results", str(tmp_path / "r"), "--executor", "fake",
                    "--ray-address", "127.0.0.1:6379"])
    assert exc.value.code == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err


def test_ray_address_from_the_environment() -> None:
    from apr_eval.settings import load_settings

    assert load_settings({"APR_EVAL_RAY_ADDRESS": "10.0.0.1:6379"}).ray_address == (
        "10.0.0.1:6379")
    assert load_settings({}).ray_address is None
