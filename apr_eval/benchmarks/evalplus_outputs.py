"""Verdicts in evalplus's eval_results.json shape (`--evalplus-out`), converted only here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from apr_eval.core import Execution, SampleKey, Verdict

Serialize = Callable[[str, list[Any]], list[Any]]


def _status(v: Verdict | None) -> str | None:
    if v is None:
        return None
    return "pass" if v is Verdict.PASSED else "fail"


def _fail_tests(e: Execution, group: str, serialize: Serialize) -> list[Any]:
    if e.failing is None or e.failing.group != group:
        return []
    return serialize(e.problem_id, [e.failing.input])


def evalplus_results(data_hash: str, executions: Mapping[SampleKey, Execution],
                     solutions: Mapping[SampleKey, str],
                     serialize: Serialize | None = None) -> dict[str, Any]:
    """evalplus's ``eval_results.json``: statuses "pass"/"fail", our verdicts beside them."""
    ser = serialize or (lambda _tid, inputs: inputs)
    table: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(executions, key=lambda k: (k.problem_id, k.sample_index)):
        e = executions[key]
        gv = e.group_verdicts
        table.setdefault(key.problem_id, []).append({
            "task_id": key.problem_id,
            "solution": solutions.get(key, ""),
            "base_status": _status(gv.get("base", e.verdict)),
            "plus_status": _status(gv.get("plus")),
            "base_fail_tests": _fail_tests(e, "base", ser),
            "plus_fail_tests": _fail_tests(e, "plus", ser),
            "base_verdict": gv.get("base", e.verdict).value,
            "plus_verdict": gv["plus"].value if "plus" in gv else None,
        })
    return {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "hash": data_hash,
            "eval": table}


def write_json(path: Path, data: Any) -> None:
    """JSON with anything else as its repr; an int past Python's 4 300-digit str limit (a
    failing test's input or output) is written whole, not refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        text = json.dumps(data, default=repr)
    finally:
        sys.set_int_max_str_digits(saved)
    path.write_text(text + "\n")
