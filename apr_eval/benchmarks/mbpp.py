"""MBPP+ (evalplus): v0.2.0 by default (378 tasks); v0.1.0 (399 tasks) selectable."""

from __future__ import annotations

from typing import Any

from apr_eval.benchmarks.evalplus_benchmark import EvalplusBenchmark
from apr_eval.benchmarks.evalplus_common import DataFile


def _not_none_tasks() -> frozenset[str]:
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS

    return frozenset(MBPP_OUTPUT_NOT_NONE_TASKS)


class MbppPlus(EvalplusBenchmark):
    name = "mbpp"
    title = "MBPP"
    averaged = True  # its strictest score joins the leaderboard's average
    dataset = "mbpp"
    score_names = ("mbpp", "mbpp+")
    default_version = "v0.2.0"
    files = {
        "v0.2.0": DataFile("MbppPlus-v0.2.0.jsonl.gz",
                           "af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63"),
        "v0.1.0": DataFile("MbppPlus-v0.1.0.jsonl.gz",
                           "57d639e77667d88930052b2b07212011c25c0bab94dfc1f19d15e1f7f558bfa9"),
    }
    not_none = _not_none_tasks()

    def prepare(self, task: dict[str, Any]) -> dict[str, Any]:
        """JSON has no tuples, sets or complex numbers: evalplus's own deserializer restores
        them per task id (a harness that skips this disagrees with evalplus)."""
        from evalplus.data.mbpp import mbpp_deserialize_inputs

        tid = task["task_id"]
        task["base_input"] = mbpp_deserialize_inputs(tid, task["base_input"])
        task["plus_input"] = mbpp_deserialize_inputs(tid, task.get("plus_input", []))
        return task
