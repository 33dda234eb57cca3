"""A run directory: the source of truth for one run. DuckDB is derived from it.

```
results/<run_id>/manifest.json      RunManifest (what ran)
                 completions.jsonl  one Completion per line, append-only
                 executions.jsonl   one Execution per line, append-only
                 scores.json        pass@k with intervals (rewritten by `score`)
```

Appends are line-atomic from the reader's view: a crash can leave at most one partial last
line, which :func:`read_jsonl` ignores and :meth:`RunDir.open_append` cuts off before appending.
Duplicate keys (a sample written twice around a crash) keep the first line, except that an
INFRA_ERROR execution is superseded by a later verdict for the same sample (written when the
harness retries infrastructure failures: ``apr-eval execute --retry-infra-errors``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

from apr_eval.core import (
    Completion,
    Execution,
    FailingTest,
    ModelInfo,
    RunManifest,
    SampleKey,
    SamplingParams,
    Verdict,
)
from apr_eval.errors import DataError
from apr_eval.sandbox import codec

MANIFEST = "manifest.json"
COMPLETIONS = "completions.jsonl"
EXECUTIONS = "executions.jsonl"
SCORES = "scores.json"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Complete lines only: a torn last line (no newline) from a crash is skipped."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                return
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc})") from None


def _cut_torn_tail(path: Path) -> None:
    """Drop a torn last line; a whole file is only read when its last byte is not a newline."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)


# ------------------------------------------------------------------ records <-> JSON


def completion_to_json(c: Completion) -> dict[str, Any]:
    return dataclasses.asdict(c)


def completion_from_json(d: dict[str, Any]) -> Completion:
    return Completion(**d)


def _encoded(value: Any) -> Any:
    """A failing test's value as tagged JSON; one the codec refuses (nested too deeply, a
    sample's own doing) is kept as an opaque stand-in, never an exception."""
    try:
        return codec.encode(value)
    except (codec.EncodeError, RecursionError, ValueError, TypeError, MemoryError):
        return {"$o": type(value).__name__[:100]}


def execution_to_json(e: Execution) -> dict[str, Any]:
    failing = None
    if e.failing is not None:
        failing = {f.name: getattr(e.failing, f.name) for f in dataclasses.fields(e.failing)}
        for k in ("input", "expected", "got"):
            failing[k] = _encoded(failing[k])
    return {
        "problem_id": e.problem_id,
        "sample_index": e.sample_index,
        "verdict": e.verdict.value,
        "group_verdicts": {k: v.value for k, v in e.group_verdicts.items()},
        "failing": failing,
        "duration_s": round(e.duration_s, 6),
        "detail": e.detail,
    }


def execution_from_json(d: dict[str, Any]) -> Execution:
    failing = d.get("failing")
    fail = None
    if failing is not None:
        for k in ("input", "expected", "got"):
            failing[k] = codec.decode(failing[k])
        fail = FailingTest(**failing)
    return Execution(
        problem_id=d["problem_id"],
        sample_index=int(d["sample_index"]),
        verdict=Verdict(d["verdict"]),
        group_verdicts={k: Verdict(v) for k, v in d.get("group_verdicts", {}).items()},
        failing=fail,
        duration_s=float(d.get("duration_s", 0.0)),
        detail=d.get("detail", ""),
    )


def manifest_to_json(m: RunManifest) -> dict[str, Any]:
    def default(o: Any) -> Any:
        if isinstance(o, date):
            return o.isoformat()
        raise TypeError(type(o).__name__)

    out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(m), default=default))
    return out


def manifest_from_json(d: dict[str, Any]) -> RunManifest:
    d = dict(d)
    model = dict(d.pop("model"))
    if model.get("cutoff"):
        model["cutoff"] = date.fromisoformat(model["cutoff"])
    sampling = d.pop("sampling", None)
    return RunManifest(
        model=ModelInfo(**model),
        sampling=SamplingParams(**sampling) if sampling else None,
        problems=tuple(d.pop("problems", ())),
        date_window=tuple(d.pop("date_window", (None, None))),
        **d,
    )


# ------------------------------------------------------------------ the directory


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_id(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return (self.path / MANIFEST).exists()

    def write_manifest(self, manifest: RunManifest) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest_to_json(manifest), indent=2) + "\n")
        os.replace(tmp, self.path / MANIFEST)

    def manifest(self) -> RunManifest:
        path = self.path / MANIFEST
        if not path.exists():
            raise DataError(f"{self.path} is not a run directory (no {MANIFEST})")
        return manifest_from_json(json.loads(path.read_text()))

    def completions(self) -> dict[SampleKey, Completion]:
        out: dict[SampleKey, Completion] = {}
        for d in read_jsonl(self.path / COMPLETIONS):
            c = completion_from_json(d)
            out.setdefault(SampleKey(c.problem_id, c.sample_index), c)
        return out

    def executions(self) -> dict[SampleKey, Execution]:
        out: dict[SampleKey, Execution] = {}
        for d in read_jsonl(self.path / EXECUTIONS):
            add_execution(out, execution_from_json(d))
        return out

    def open_append(self, name: str) -> IO[str]:
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / name
        _cut_torn_tail(path)
        return path.open("a", encoding="utf-8")

    def append_completions(self, items: Iterable[Completion]) -> None:
        with self.open_append(COMPLETIONS) as f:
            for c in items:
                _write_line(f, completion_to_json(c))

    def write_scores(self, scores: list[dict[str, Any]]) -> None:
        tmp = self.path / (SCORES + ".tmp")
        tmp.write_text(json.dumps(scores, indent=2) + "\n")
        os.replace(tmp, self.path / SCORES)

    def scores(self) -> list[dict[str, Any]]:
        path = self.path / SCORES
        if not path.exists():
            return []
        out: list[dict[str, Any]] = json.loads(path.read_text())
        return out


def _json_line(obj: dict[str, Any]) -> str:
    """One JSON line; text a sample produced may hold lone surrogates, which UTF-8 cannot
    carry: such a line is written with ASCII escapes instead (the same JSON value)."""
    line = json.dumps(obj, ensure_ascii=False) + "\n"
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj) + "\n"
    return line


def _write_line(f: IO[str], obj: dict[str, Any]) -> None:
    """One whole line per write, flushed and fsynced: a kill loses at most the line in flight."""
    f.write(_json_line(obj))
    f.flush()
    os.fsync(f.fileno())


def write_jsonl(path: Path, objs: Iterable[dict[str, Any]]) -> None:
    """A whole new JSONL file with one fsync at the end (for files written at once, not
    appended to as work finishes)."""
    with path.open("w", encoding="utf-8") as f:
        f.writelines(map(_json_line, objs))
        f.flush()
        os.fsync(f.fileno())


def add_execution(executions: dict[SampleKey, Execution], e: Execution) -> None:
    """A later line of the same sample wins only over an INFRA_ERROR (a retry)."""
    old = executions.get(e.key)
    if old is None or old.verdict is Verdict.INFRA_ERROR:
        executions[e.key] = e


def append_execution(f: IO[str], e: Execution) -> None:
    _write_line(f, execution_to_json(e))


def append_completion(f: IO[str], c: Completion) -> None:
    _write_line(f, completion_to_json(c))
