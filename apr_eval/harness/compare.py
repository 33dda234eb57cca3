"""Comparing two runs of the same benchmark: comparability, paired statistics, flip lists.

A comparison is only meaningful when everything that changes scores apart from the model is
the same (:meth:`RunManifest.comparability_fields`); otherwise it is refused, naming the field,
unless forced. Per headline score it reports pass@1 of each run, the delta with a paired
bootstrap interval over problems, a paired test (exact McNemar for one sample per problem, a
sign-flip test on per-problem pass fractions otherwise), and the problems that flipped, with the
verdict kind of the failing side (a timeout flip is not a wrong-answer flip).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apr_eval.core import Execution, RunManifest, Verdict
from apr_eval.errors import AprEvalError, UsageError
from apr_eval.harness import stats
from apr_eval.harness.rundir import MANIFEST, RunDir
from apr_eval.harness.truncation import truncation_notes

# Manifest fields that differ between comparable runs without changing scores; shown as notes.
NOTE_FIELDS = ("harness_version", "image_digest", "backend")
# Model fields that decide the exact generated text besides the weights and settings.
ENGINE_FIELDS = ("engine", "engine_version", "engine_build")
# Fields whose difference cannot be forced: the score names themselves differ.
UNFORCEABLE = ("benchmark",)
HEADLINE = ""  # the key under which the headline verdict is offered to ``passed``

# TODO: drop once every benchmark on main implements ``Benchmark.passed`` and builds offline.
# score name -> groups that must all pass ("" = the headline verdict).
_LOCAL_RULES: dict[str, dict[str, tuple[str, ...]]] = {
    "humaneval": {"humaneval": ("base",), "humaneval+": ("base", "plus")},
    "mbpp": {"mbpp": ("base",), "mbpp+": ("base", "plus")},
    "livecodebench": {"livecodebench": (HEADLINE,)},
}

PassedFn = Callable[[str, dict[str, str]], bool]


class ComparabilityError(UsageError):
    """The two runs differ in something that changes scores."""


@dataclass(frozen=True)
class FieldDiff:
    field: str
    a: Any
    b: Any

    def __str__(self) -> str:
        return f"{self.field} differs ({_short(self.a)} vs {_short(self.b)})"


@dataclass(frozen=True)
class Flip:
    """One problem whose outcome changed between A and B."""

    problem_id: str
    a_passed: int
    a_samples: int
    b_passed: int
    b_samples: int
    # Verdict kinds of the failing samples on the side that did worse, e.g. {"timeout": 1}.
    kinds: Mapping[str, int] = field(default_factory=dict)

    @property
    def kind_text(self) -> str:
        return ", ".join(f"{k}×{n}" if n > 1 else k for k, n in sorted(self.kinds.items()))


@dataclass(frozen=True)
class ScoreComparison:
    score: str
    problems: int
    samples: int  # samples per problem (the smaller of the two runs)
    pass_a: float
    pass_b: float
    delta: stats.Interval  # pass@1(B) - pass@1(A), as fractions
    test: stats.TestResult
    lost: tuple[Flip, ...]  # passed (more often) by A than by B
    gained: tuple[Flip, ...]
    significant: bool  # test p-value below alpha
    regressed: bool  # significant and the drop is larger than max_drop_pp


@dataclass(frozen=True)
class Comparison:
    run_a: str
    run_b: str
    model_a: str
    model_b: str
    benchmark: str
    max_drop_pp: float
    alpha: float
    scores: tuple[ScoreComparison, ...]
    diffs: tuple[FieldDiff, ...] = ()  # non-empty only when forced
    notes: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        return any(s.regressed for s in self.scores)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["regressed"] = self.regressed
        out["diffs"] = [{"field": d.field, "a": d.a, "b": d.b} for d in self.diffs]
        return out


# ------------------------------------------------------------------ comparability


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from _flatten(f"{prefix}.{key}", value[key])
    else:
        yield prefix, value


def comparability_diffs(a: RunManifest, b: RunManifest) -> list[FieldDiff]:
    """Every score-changing field that differs; nested fields named like ``sandbox.memory_mb``."""
    fa = dict(kv for k, v in a.comparability_fields().items() for kv in _flatten(k, v))
    fb = dict(kv for k, v in b.comparability_fields().items() for kv in _flatten(k, v))
    diffs = []
    for name in list(dict.fromkeys([*fa, *fb])):
        if fa.get(name) != fb.get(name):
            diffs.append(FieldDiff(name, fa.get(name), fb.get(name)))
    return diffs


def _notes(a: RunManifest, b: RunManifest) -> list[str]:
    notes = []
    for name in NOTE_FIELDS:
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            notes.append(f"{name} differs ({_short(va)} vs {_short(vb)}); scores should not")
    return notes + _engine_notes(a, b)


def _engine_notes(a: RunManifest, b: RunManifest) -> list[str]:
    """Texts are reproducible only on one engine build and instruction set (README)."""
    if not (a.model.engine and b.model.engine):
        return []  # samples made elsewhere: nothing known
    changed = [f for f in ENGINE_FIELDS if getattr(a.model, f) != getattr(b.model, f)]
    if not changed:
        return []
    return [f"generation {', '.join(changed)} differs: the same model, settings and seed can "
            "write other texts on it (greedy included)"]


def check_comparable(a: RunManifest, b: RunManifest, *, force: bool) -> list[FieldDiff]:
    """Raise :class:`ComparabilityError` naming the differing fields unless ``force``."""
    diffs = comparability_diffs(a, b)
    hard = [d for d in diffs if d.field in UNFORCEABLE]
    if hard or (diffs and not force):
        listed = "; ".join(str(d) for d in diffs)
        hint = "" if hard else " (--force compares anyway)"
        raise ComparabilityError(f"runs {a.run_id} and {b.run_id} are not comparable: "
                                 f"{listed}{hint}")
    return diffs


# ------------------------------------------------------------------ per-problem outcomes


def _local_passed(benchmark: str) -> tuple[tuple[str, ...], PassedFn]:
    rules = _LOCAL_RULES.get(benchmark, {benchmark: (HEADLINE,)})

    def passed(score: str, verdicts: dict[str, str]) -> bool:
        groups = rules[score]
        return all(verdicts.get(g, verdicts[HEADLINE]) == Verdict.PASSED.value for g in groups)

    return tuple(rules), passed


def score_rules(manifest: RunManifest) -> tuple[tuple[str, ...], PassedFn]:
    """(headline score names, passed(score, group verdicts)) from the benchmark itself when it
    can be built here, else from a local mapping of the known benchmarks."""
    from apr_eval.benchmarks.base import open_benchmark

    try:
        bench = open_benchmark(manifest.benchmark, manifest.benchmark_version)
        names = tuple(bench.score_names)
        return names, bench.passed
    except (ImportError, AprEvalError, TypeError, OSError):
        return _local_passed(manifest.benchmark)


@dataclass
class _Outcome:
    samples: int = 0
    passed: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


def _failure_kind(e: Execution) -> str:
    for verdict in e.group_verdicts.values():
        if not verdict.passed:
            return verdict.value
    return e.verdict.value


def outcomes(executions: Iterable[Execution], score: str,
             passed: PassedFn) -> dict[str, _Outcome]:
    """problem id -> samples, passed samples, and the verdict kinds of the failed ones."""
    table: dict[str, _Outcome] = {}
    for e in executions:
        verdicts = {k: v.value for k, v in e.group_verdicts.items()}
        verdicts.setdefault(HEADLINE, e.verdict.value)
        row = table.setdefault(e.problem_id, _Outcome())
        row.samples += 1
        if passed(score, verdicts):
            row.passed += 1
        else:
            row.kinds[_failure_kind(e)] += 1
    return table


def natural_key(problem_id: str) -> list[tuple[int, int | str]]:
    """"HumanEval/2" before "HumanEval/10"."""
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", problem_id)]


def _flip(pid: str, a: _Outcome, b: _Outcome) -> Flip:
    worse = b if b.passed * a.samples < a.passed * b.samples else a
    return Flip(pid, a.passed, a.samples, b.passed, b.samples, dict(worse.kinds))


def compare_score(score: str, a: Mapping[str, _Outcome], b: Mapping[str, _Outcome], *,
                  max_drop_pp: float, alpha: float, resamples: int,
                  seed: int) -> ScoreComparison:
    pids = sorted(set(a) & set(b), key=natural_key)
    if not pids:
        raise UsageError(f"{score}: the runs share no executed problem")
    fa = [a[p].passed / a[p].samples for p in pids]
    fb = [b[p].passed / b[p].samples for p in pids]
    binary = all(a[p].samples == 1 and b[p].samples == 1 for p in pids)
    delta = stats.paired_bootstrap(fa, fb, resamples=resamples, seed=seed)
    test = stats.paired_test(fa, fb, binary=binary, seed=seed)
    lost = tuple(_flip(p, a[p], b[p]) for p, x, y in zip(pids, fa, fb, strict=True) if x > y)
    gained = tuple(_flip(p, a[p], b[p]) for p, x, y in zip(pids, fa, fb, strict=True) if y > x)
    significant = test.p_value < alpha
    return ScoreComparison(
        score=score, problems=len(pids),
        samples=min(min(a[p].samples, b[p].samples) for p in pids),
        pass_a=sum(fa) / len(fa), pass_b=sum(fb) / len(fb), delta=delta, test=test,
        lost=lost, gained=gained, significant=significant,
        regressed=significant and -delta.estimate * 100 > max_drop_pp)


def _coverage_notes(name: str, run: RunDir, manifest: RunManifest,
                    executed: set[str], shared: set[str]) -> list[str]:
    notes = []
    expected = set(manifest.problems)
    missing = expected - executed
    if missing:
        notes.append(f"run {name} ({run.run_id}) is incomplete: {len(missing)} of "
                     f"{len(expected)} problems have no execution")
    only = executed - shared
    if only:
        notes.append(f"{len(only)} problems executed only in run {name} are left out")
    return notes


def compare_runs(run_a: RunDir, run_b: RunDir, *, max_drop_pp: float = 1.0,
                 alpha: float = 0.05, force: bool = False, resamples: int = 10_000,
                 seed: int = 0) -> Comparison:
    """Compare B against A (A is the reference: a drop from A to B is a regression)."""
    ma, mb = run_a.manifest(), run_b.manifest()
    diffs = check_comparable(ma, mb, force=force)
    ea, eb = list(run_a.executions().values()), list(run_b.executions().values())
    names, passed = score_rules(ma)
    shared = {e.problem_id for e in ea} & {e.problem_id for e in eb}
    notes = _notes(ma, mb)
    notes += _coverage_notes("A", run_a, ma, {e.problem_id for e in ea}, shared)
    notes += _coverage_notes("B", run_b, mb, {e.problem_id for e in eb}, shared)
    notes += truncation_notes(run_a, run_b, shared)
    scores = tuple(
        compare_score(name, outcomes(ea, name, passed), outcomes(eb, name, passed),
                      max_drop_pp=max_drop_pp, alpha=alpha, resamples=resamples, seed=seed)
        for name in names)
    return Comparison(run_a=ma.run_id, run_b=mb.run_id, model_a=ma.model.name,
                      model_b=mb.model.name, benchmark=ma.benchmark, max_drop_pp=max_drop_pp,
                      alpha=alpha, scores=scores, diffs=tuple(diffs), notes=tuple(notes))



# ------------------------------------------------------------------ finding runs


def list_runs(results_dir: Path) -> list[tuple[RunDir, RunManifest]]:
    """Every run directory under ``results_dir`` with a readable manifest, oldest first."""
    runs = []
    for path in sorted(results_dir.glob(f"*/{MANIFEST}")):
        run = RunDir(path.parent)
        try:
            runs.append((run, run.manifest()))
        except (AprEvalError, ValueError, TypeError, KeyError):
            continue  # a half-written or foreign directory is not a run to compare
    runs.sort(key=lambda rm: (rm[1].created_at, rm[1].run_id))
    return runs


def model_names(manifest: RunManifest) -> set[str]:
    """Names a run answers to in ``latest:NAME``: the model's own name and, for nightly runs,
    the name the nightly config gave it."""
    names = {manifest.model.name}
    tag = manifest.extra.get("nightly")
    if isinstance(tag, Mapping) and isinstance(tag.get("name"), str):
        names.add(tag["name"])
    return names


def _resolve_latest(ref: str, results_dir: Path) -> RunDir:
    which, _, rest = ref.partition(":")
    runs = list_runs(results_dir)
    benches = {m.benchmark for _, m in runs}
    model, bench = rest, None
    head, sep, tail = rest.rpartition(":")
    if sep and tail in benches:
        model, bench = head, tail
    mine = [(r, m) for r, m in runs if model in model_names(m)]
    if not mine:
        known = sorted({name for _, m in runs for name in model_names(m)})
        close = difflib.get_close_matches(model, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"{ref}: no run of model '{model}' under {results_dir}{hint}")
    if bench is None and len({m.benchmark for _, m in mine}) > 1:
        listed = ", ".join(sorted({m.benchmark for _, m in mine}))
        raise UsageError(f"{ref}: model '{model}' has runs on {listed}; "
                         f"say which, e.g. {which}:{model}:{sorted(benches)[0]}")
    mine = [(r, m) for r, m in mine if bench is None or m.benchmark == bench]
    position = 1 if which == "latest" else 2
    if len(mine) < position:
        raise UsageError(f"{ref}: model '{model}' has only {len(mine)} run(s) there")
    return mine[-position][0]


def resolve_run(ref: str, results_dir: Path) -> RunDir:
    """A run directory, a run id under ``results_dir``, or ``latest:MODEL[:BENCH]`` /
    ``previous:MODEL[:BENCH]`` (the newest / second newest run of that model)."""
    if ref.startswith(("latest:", "previous:")):
        return _resolve_latest(ref, results_dir)
    for path in (Path(ref), results_dir / ref):
        if (path / MANIFEST).is_file():
            return RunDir(path)
    ids = [r.run_id for r, _ in list_runs(results_dir)]
    close = difflib.get_close_matches(ref, ids, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UsageError(f"no run '{ref}': neither a run directory nor a run id under "
                     f"{results_dir}{hint}")
