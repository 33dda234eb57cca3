"""LiveCodeBench code generation: problems, prompts, checks judged with lcb_runner's rules.

Data sources, by ``version`` / ``path``:

- neither: the embedded 342 problems of release deltas v5+v6 with **public tests only**
  (``data/livecodebench/``; sha256-pinned). Good for plumbing and date windows; not LCB scores.
- ``release_v1`` .. ``release_v6`` / ``release_latest`` (cumulative) or ``v1`` .. ``v6`` /
  ``v4_v6`` (per-delta files ``test.jsonl`` .. ``test6.jsonl``): from ``path`` (a directory
  holding those files, or one ``.jsonl[.gz]`` file) or else from the Hugging Face hub
  ``livecodebench/code_generation_lite`` through the ``datasets`` package.

Hidden tests are decoded by :mod:`lcb_decode` (never ``pickle.loads``). Programs run in the
sandbox the way lcb_runner runs them (:mod:`lcb_program`); outputs are compared on the host
(:mod:`lcb_compare`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from apr_eval.benchmarks import lcb_compare, lcb_program, lcb_prompts
from apr_eval.benchmarks.lcb_decode import TestCase, parse_tests
from apr_eval.core import (
    HEADLINE,
    Check,
    DateWindow,
    ExecMode,
    Job,
    Problem,
    Prompt,
    PromptStyle,
    SampleKey,
    SandboxLimits,
    TestGroup,
    Verdict,
)
from apr_eval.errors import DataError, UsageError

HUB_REPO = "livecodebench/code_generation_lite"
DELTA_FILES = ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl",
               "test6.jsonl")
EMBEDDED_VERSION = "v5_v6-public"
EMBEDDED_FILE = Path(__file__).parent / "data" / "livecodebench" / "lcb_v5v6_public.jsonl.gz"
EMBEDDED_SHA256 = "b88993c9917d1becf5473ab3ddf8f8f11314d7ad6bbbeeb37dd49824d1f9e2e0"
EMBEDDED_LIMITS = ("public tests only (1-5 per problem; LiveCodeBench also grades hidden "
                   "tests): pass rates here are upper bounds, not LiveCodeBench scores",)
KNOWN_VERSIONS = ("release_v1", "release_v2", "release_v3", "release_v4", "release_v5",
                  "release_v6", "release_latest", "v1", "v2", "v3", "v4", "v5", "v6")


def delta_files(version: str) -> tuple[str, ...]:
    """The upstream files making up a release tag (cumulative) or a delta range."""
    if version == "release_latest":
        return DELTA_FILES
    m = re.fullmatch(r"release_v([1-6])", version)
    if m:
        return DELTA_FILES[: int(m.group(1))]
    m = re.fullmatch(r"v([1-6])(?:_v([1-6]))?", version)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo <= hi:
            return DELTA_FILES[lo - 1: hi]
    raise UsageError(f"unknown LiveCodeBench release {version!r}; known: "
                     f"{', '.join(KNOWN_VERSIONS)} (or a range like v4_v6)")


def _parse_date(value: object, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise UsageError(f"{what}: expected YYYY-MM-DD, got {value!r}") from None


class LiveCodeBench:
    name = "livecodebench"
    title = "LiveCodeBench"
    score_names = ("livecodebench",)
    dated = True  # the leaderboard scores it per release-date window
    averaged = True
    has_canonical = False  # LCB ships no reference solutions: no selfcheck

    def __init__(self, version: str | None = None, path: str | None = None,
                 start_date: object = None, end_date: object = None,
                 timeout: float = lcb_compare.DEFAULT_TIMEOUT_S, **options: object) -> None:
        if options:
            raise UsageError(f"livecodebench: unknown option(s) {', '.join(sorted(options))}")
        self.path = Path(path) if path else None
        if version is None and self.path is None:
            self.version = EMBEDDED_VERSION
            self.files: tuple[str, ...] = ()
        else:
            self.version = version or "release_latest"
            self.files = delta_files(self.version)
        self.window = DateWindow(_parse_date(start_date, "start date"),
                                 _parse_date(end_date, "end date"))
        self.timeout = float(timeout)
        if self.timeout <= 0:
            raise UsageError("livecodebench: timeout must be positive")
        self.limits: tuple[str, ...] = EMBEDDED_LIMITS if not self.files else ()
        self._problems: list[Problem] | None = None
        self._hash = ""

    # ------------------------------------------------------------------ data
    @property
    def data_hash(self) -> str:
        if self._problems is None:
            self.load()
        return self._hash

    def load(self) -> Sequence[Problem]:
        if self._problems is None:
            digest = hashlib.sha256()
            problems = []
            for row in self._rows():
                problem = self._problem(row)
                digest.update(_canonical(problem))
                problems.append(problem)
            self._hash = "sha256:" + digest.hexdigest()
            self._problems = problems
        return [p for p in self._problems if self.window.contains(p.release_date)]

    def universe(self) -> set[str]:
        """Every problem id of the data, inside the date window or not."""
        self.load()
        return {p.problem_id for p in self._problems or ()}

    def _rows(self) -> Iterator[dict[str, Any]]:
        if not self.files:
            yield from _embedded_rows()
        elif self.path is not None:
            yield from _local_rows(self.path, self.files)
        else:
            yield from _hub_rows(self.files)

    def _problem(self, row: dict[str, Any]) -> Problem:
        qid = str(row.get("question_id", "?"))
        where = f"livecodebench {qid}"
        try:
            meta = json.loads(row.get("metadata") or "{}")
            released = datetime.fromisoformat(str(row["contest_date"]))
            tests = parse_tests(row["public_test_cases"], f"{where} public_test_cases")
            if row.get("private_test_cases"):
                tests += parse_tests(row["private_test_cases"], f"{where} private_test_cases")
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{where}: malformed row ({type(exc).__name__}: {exc})") from None
        func_name = str(meta.get("func_name") or "") if isinstance(meta, dict) else ""
        return Problem(
            benchmark=self.name, version=self.version, problem_id=qid,
            prompt=str(row.get("question_content", "")), entry_point=func_name,
            release_date=released.date(), difficulty=row.get("difficulty"),
            starter_code=str(row.get("starter_code") or ""),
            metadata={"platform": row.get("platform"), "contest_id": row.get("contest_id"),
                      "question_title": row.get("question_title"),
                      "contest_date": released.isoformat(), "func_name": func_name or None,
                      "release": row.get("_version"), "tests": tuple(tests),
                      "public_tests": len(json.loads(row["public_test_cases"]))})

    # --------------------------------------------------------------- prompts
    def render_prompt(self, problem: Problem, style: PromptStyle) -> Prompt:
        return lcb_prompts.render(problem, style)

    def extract_code(self, problem: Problem, prompt: Prompt, raw: str) -> str:
        """A model's raw answer -> the program, as lcb_runner extracts it (the last fenced
        block; "" without one), so ``run`` judges what lcb_runner puts in ``code_list``."""
        return lcb_program.extract_code(raw)

    def assemble(self, problem: Problem, completion: str) -> str:
        """A completion made elsewhere -> the program: its last fenced code block (lcb_runner),
        or the completion itself when it has none (code already extracted)."""
        return lcb_program.assemble(completion)

    def canonical_solution(self, problem: Problem) -> str:
        raise UsageError("livecodebench has no reference solutions (nothing to self-check)")

    # ---------------------------------------------------------------- checks
    def build_check(self, problem: Problem, code: str, sample_index: int,
                    limits: SandboxLimits) -> Check:
        tests: tuple[TestCase, ...] = tuple(problem.metadata.get("tests", ()))
        functional = bool(problem.entry_point)
        inputs, expected = _test_values(problem.problem_id, tests, functional)
        if functional:
            program = lcb_program.functional_program(code)
            entry = lcb_program.functional_entry(code, problem.entry_point)
            mode = ExecMode.FUNCTION
        else:
            program = lcb_program.stdio_program(code)
            entry = lcb_program.stdio_entry(program)
            mode = ExecMode.STDIO
        n = len(inputs)
        group = TestGroup(lcb_compare.TESTS_GROUP, inputs, (self.timeout,) * n,
                          deadline_s=(self.timeout + 1) * n + 5)
        job = Job(SampleKey(problem.problem_id, sample_index), program, mode, entry, (group,),
                  guard="lcb")
        judge = functools.partial(lcb_compare.judge_tests, problem_id=problem.problem_id,
                                  sample_index=sample_index, functional=functional,
                                  inputs=inputs, expected=expected)
        return Check(job, judge)

    @classmethod
    def passed(cls, score_name: str, group_verdicts: Mapping[str, Verdict]) -> bool:
        verdict = group_verdicts.get(lcb_compare.TESTS_GROUP, group_verdicts.get(HEADLINE))
        return verdict == Verdict.PASSED


def _canonical(p: Problem) -> bytes:
    """What the data hash covers: the same bytes whether rows came from the hub (where dates
    may arrive as timestamps) or from a local copy."""
    tests = [[t.input, t.output, t.testtype] for t in p.metadata["tests"]]
    return json.dumps([p.problem_id, p.metadata["contest_date"], p.metadata["platform"],
                       p.difficulty, p.prompt, p.starter_code, p.entry_point, tests]).encode()


@functools.lru_cache(maxsize=64)
def _test_values(problem_id: str, tests: tuple[TestCase, ...],
                 functional: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    if not functional:
        return tuple(t.input for t in tests), tuple(t.output for t in tests)
    try:
        return (tuple(lcb_compare.functional_args(t.input) for t in tests),
                tuple(json.loads(t.output) for t in tests))
    except ValueError as exc:
        raise DataError(f"livecodebench {problem_id}: functional test is not JSON ({exc})") \
            from None


def _embedded_rows() -> Iterator[dict[str, Any]]:
    try:
        raw = gzip.decompress(EMBEDDED_FILE.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataError(f"embedded LiveCodeBench data unreadable: {exc}") from None
    if hashlib.sha256(raw).hexdigest() != EMBEDDED_SHA256:
        raise DataError(f"{EMBEDDED_FILE}: sha256 does not match the pinned {EMBEDDED_SHA256}")
    yield from _json_lines(raw.decode().splitlines(), str(EMBEDDED_FILE))


def _json_lines(lines: Iterable[str], where: str) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{where}:{n}: not a JSON line ({exc})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}:{n}: expected a JSON object")
        yield row


def _local_rows(path: Path, files: Sequence[str]) -> Iterator[dict[str, Any]]:
    if not path.exists():
        raise DataError(f"LiveCodeBench data not found: {path}")
    targets = [path] if path.is_file() else [path / f for f in files]
    for wanted in targets:
        target = wanted if wanted.exists() or not Path(f"{wanted}.gz").exists() \
            else Path(f"{wanted}.gz")
        if not target.exists():
            raise DataError(f"LiveCodeBench data not found: {target} (needed by this release)")
        opener = gzip.open if target.suffix == ".gz" else open
        try:
            with opener(target, "rt", encoding="utf-8") as fh:
                yield from _json_lines(fh, str(target))
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise DataError(f"{target}: unreadable ({exc})") from None


def _hub_rows(files: Sequence[str]) -> Iterator[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise UsageError("loading LiveCodeBench from the hub needs `datasets`: "
                         "pip install 'datasets>=2.19' (or pass --path to a local copy)") from None
    urls = [f"hf://datasets/{HUB_REPO}/{f}" for f in files]
    try:
        table = datasets.load_dataset("json", data_files=urls, split="train")
    except Exception as exc:  # noqa: BLE001 - network/hub failures become one clear line
        raise DataError(f"could not load {HUB_REPO} ({', '.join(files)}): "
                        f"{type(exc).__name__}: {exc}") from None
    for row in table:
        yield dict(row)
