"""Reading samples made elsewhere: evalplus JSONL, lcb_runner JSON, our own completions.

The one place a samples file is parsed: :func:`read_samples` (programs to evaluate against a
benchmark) and :func:`read_lcb_samples` (lcb_runner's shape, with its sample indices).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from apr_eval.errors import DataError
from apr_eval.harness.run.execution import Program

# A sample read from a file: the program to run, with what the file held as ``raw``.
Sample = Program


# (problem id, completion) -> the program to run (evalplus: prompt + completion)
Assemble = Callable[[str, str], str]


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.exists():
        raise DataError(f"samples file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):  # lcb_runner: one JSON list
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
        for i, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise DataError(f"{path}: item {i} is not an object")
            yield i, item
        return
    yield from _json_lines(text, str(path))


def _json_lines(text: str, where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line of a JSONL text as an object, with its line number."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{where}:{lineno}: malformed JSON line ({exc})") from None
        if not isinstance(item, dict):
            raise DataError(f"{where}:{lineno}: expected a JSON object")
        yield lineno, item


def read_samples(path: Path, known: Collection[str], assemble: Assemble,
                 outside: Collection[str] = ()) -> list[Sample]:
    """Samples in file order, numbered per problem.

    Accepted shapes: evalplus ``{"task_id", "completion"|"solution"}`` (several lines per task
    allowed), our completions ``{"problem_id", "code"}``, and lcb_runner's ``[{"question_id",
    "code_list": [...]}]``. Completions go through ``assemble`` (evalplus appends them to the
    prompt); solutions and code are taken whole. Ids in ``outside`` (problems of the dataset
    outside a date window) are skipped; any other id not in ``known`` is an error.
    """
    counters: dict[str, int] = {}
    out: list[Sample] = []
    for where, item in _records(path):
        pid = item.get("task_id") or item.get("problem_id") or item.get("question_id")
        if not isinstance(pid, str):
            raise DataError(f"{path}:{where}: no task_id / problem_id / question_id")
        if pid in outside:
            continue
        if pid not in known:
            raise DataError(f"{path}:{where}: unknown task id '{pid}' for this benchmark")
        for raw, code in _programs(item, pid, assemble, f"{path}:{where}"):
            index = counters.get(pid, 0)
            counters[pid] = index + 1
            out.append(Sample(pid, index, code, raw))
    return out


def _programs(item: dict[str, Any], pid: str, assemble: Assemble,
              where: str) -> list[tuple[str, str]]:
    if "code_list" in item:
        codes = item["code_list"]
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise DataError(f"{where}: code_list must be a list of strings")
        return [(c, c) for c in codes]
    for field in ("solution", "code"):
        if isinstance(item.get(field), str):
            return [(item[field], item[field])]
    if isinstance(item.get("completion"), str):
        c = item["completion"]
        return [(c, assemble(pid, c))]
    raise DataError(f"{where}: no 'completion', 'solution', 'code' or 'code_list' field")


MODEL_KEYS = ("model", "model_name", "model_id")


def samples_model_name(path: Path) -> str:
    """A meaningful model name for a samples file: a ``model`` / ``model_name`` field of its
    first record, else ``<folder>/<stem>`` (evalplus and lcb_runner name folders after the
    model; a bare stem such as ``generated`` names nothing)."""
    for _, item in _records(path):
        for key in MODEL_KEYS:
            if isinstance(item.get(key), str) and item[key].strip():
                return str(item[key]).strip()
        break
    folder = path.resolve().parent.name
    return f"{folder}/{path.stem}" if folder else path.stem


def read_lcb_samples(path: str | Path) -> list[tuple[str, int, str]]:
    """Programs to evaluate -> ``(problem_id, sample_index, code)``.

    Accepts lcb_runner's output (a JSON list of objects with ``question_id`` and
    ``code_list``) and our JSONL (one object per line with ``problem_id``/``task_id``/
    ``question_id``, optional ``sample_index``, and ``code``/``completion``/``solution``).
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read samples {target}: {exc.strerror or exc}") from None
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DataError(f"{target}: not valid JSON ({exc})") from None
        return _from_lcb_list(data, str(target))
    return _from_jsonl(text, str(target))


def _from_lcb_list(data: Any, where: str) -> list[tuple[str, int, str]]:
    out = []
    for n, item in enumerate(data):
        if not isinstance(item, dict) or "question_id" not in item or \
                not isinstance(item.get("code_list"), list):
            raise DataError(f"{where}[{n}]: expected an object with question_id and code_list")
        for i, code in enumerate(item["code_list"]):
            out.append((str(item["question_id"]), i, str(code)))
    return out


def _from_jsonl(text: str, where: str) -> list[tuple[str, int, str]]:
    out = []
    seen: dict[str, int] = {}
    for n, item in _json_lines(text, where):
        pid = next((item[k] for k in ("problem_id", "question_id", "task_id") if k in item),
                   None)
        code = next((item[k] for k in ("code", "solution", "completion") if k in item), None)
        if pid is None or not isinstance(code, str):
            raise DataError(f"{where}:{n}: needs problem_id (or question_id) and code")
        index = item.get("sample_index")
        if not isinstance(index, int):
            index = seen.get(str(pid), 0)
        seen[str(pid)] = index + 1
        out.append((str(pid), index, code))
    return out
