"""Comparing two runs of the same benchmark: comparability, paired statistics, flip lists.

A comparison is only meaningful when everything that changes scores apart from the model is
the same (:meth:`RunManifest.comparability_fields`); otherwise it is refused, naming the field,
unless forced. Per headline score (:mod:`apr_eval.harness.regression.paired`) it reports
pass@1 of each run, the delta with an interval consistent with its paired test (exact McNemar
+ exact conditional interval at one sample per problem, paired t over problems otherwise), what
the comparison could detect (``mde_pp``), and the problems that really flipped. Infra errors are
left out of both runs; too many of them make the comparison inconclusive (exit 3). The
scores of one comparison are one family: their p-values are Holm-corrected together.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apr_eval.benchmarks.base import score_rule
from apr_eval.core import Execution, RunManifest, SampleKey
from apr_eval.errors import AprEvalError, DataError, UsageError
from apr_eval.harness.regression.paired import (
    Flip,
    InfraExclusion,
    PassedFn,
    ScoreComparison,
    compare_score,
    decide,
    outcomes,
    pair_executions,
)
from apr_eval.harness.run.rundir import MANIFEST, RunDir
from apr_eval.harness.run.truncation import truncation_notes
from apr_eval.harness.scoring import stats

__all__ = [
    "ComparabilityError",
    "Comparison",
    "FieldDiff",
    "Flip",
    "ScoreComparison",
    "compare_runs",
    "list_runs",
    "resolve_run",
]

# Manifest fields that differ between comparable runs without changing scores; shown as notes.
NOTE_FIELDS = ("harness_version", "image_digest", "backend")
# Model fields that decide the exact generated text besides the weights and settings.
ENGINE_FIELDS = ("engine", "engine_version", "engine_build")
# Fields whose difference cannot be forced: the score names themselves differ.
UNFORCEABLE = ("benchmark",)

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
    infra: InfraExclusion = field(default_factory=lambda: InfraExclusion(0, 0, 0, 0))
    # Anything that makes the comparison inconclusive (exit 3): too many infra errors, ...
    warnings: tuple[str, ...] = ()
    max_infra_share: float = 0.02
    corrected_across: int = 1  # comparisons whose p-values were corrected together (nightly)

    @property
    def inconclusive(self) -> bool:
        return bool(self.warnings)

    @property
    def regressed(self) -> bool:
        return not self.inconclusive and any(s.regressed for s in self.scores)

    @property
    def exit_code(self) -> int:
        """0 no regression, 1 a regression, 3 inconclusive (never 1 then)."""
        return 3 if self.inconclusive else 1 if self.regressed else 0

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(regressed=self.regressed, inconclusive=self.inconclusive,
                   exit_code=self.exit_code, infra_share=self.infra.share)
        out["diffs"] = [{"field": d.field, "a": d.a, "b": d.b} for d in self.diffs]
        for row, s in zip(out["scores"], self.scores, strict=True):
            row.update(delta_pp=s.delta_pp, ci_low_pp=s.delta.low * 100,
                       ci_high_pp=s.delta.high * 100, ci_level=1 - self.alpha)
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


def score_rules(manifest: RunManifest) -> tuple[tuple[str, ...], PassedFn]:
    """(headline score names, passed(score, group verdicts)): the benchmark's own rule."""
    rule = score_rule(manifest.benchmark, manifest.benchmark_version)
    return rule.names, rule.passed


def natural_key(problem_id: str) -> list[tuple[int, int | str]]:
    """"HumanEval/2" before "HumanEval/10"."""
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", problem_id)]


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


def _infra_notes(infra: InfraExclusion, max_share: float) -> tuple[list[str], list[str]]:
    """(notes, warnings) about excluded samples; a warning makes the comparison inconclusive."""
    notes, warnings = [], []
    if infra.excluded:
        text = (f"{infra.excluded} of {infra.total} samples ({infra.share:.1%}) left out of "
                f"both runs: infra_error in A {infra.infra_a}, in B {infra.infra_b} "
                "(never evidence; retry them with `apr-eval execute RUN --retry-infra-errors`)")
        if infra.share > max_share:
            warnings.append(f"INCONCLUSIVE: {text}; more than {max_share:.1%} of samples")
        else:
            notes.append(text)
    if infra.unpaired:
        notes.append(f"{infra.unpaired} samples without a partner in the other run left out")
    return notes, warnings


def decide_all(scores: Sequence[ScoreComparison], *, alpha: float,
               max_drop_pp: float) -> tuple[ScoreComparison, ...]:
    """One comparison's scores are one family (nested scores of one run): Holm within it."""
    adjusted = stats.family_adjust([[s.test.p_value for s in scores]])[0] if scores else []
    return tuple(decide(s, p, alpha=alpha, max_drop_pp=max_drop_pp)
                 for s, p in zip(scores, adjusted, strict=True))


def _read(run: RunDir) -> tuple[RunManifest, dict[SampleKey, Execution]]:
    """A run directory's manifest and executions, any malformation as one usage error."""
    try:
        return run.manifest(), run.executions()
    except AprEvalError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise DataError(f"{run.path}: not a readable run directory "
                        f"({type(exc).__name__}: {exc})") from None


def compare_runs(run_a: RunDir, run_b: RunDir, *, max_drop_pp: float = 1.0,
                 alpha: float = 0.05, force: bool = False, max_infra_share: float = 0.02,
                 flip_method: str = "holm") -> Comparison:
    """Compare B against A (A is the reference: a drop from A to B is a regression)."""
    (ma, xa), (mb, xb) = _read(run_a), _read(run_b)
    diffs = check_comparable(ma, mb, force=force)
    names, passed = score_rules(ma)
    ea, eb, infra = pair_executions(xa, xb)
    pa, pb = {k.problem_id for k in xa}, {k.problem_id for k in xb}
    notes = _notes(ma, mb)
    notes += _coverage_notes("A", run_a, ma, pa, pa & pb)
    notes += _coverage_notes("B", run_b, mb, pb, pa & pb)
    infra_notes, warnings = _infra_notes(infra, max_infra_share)
    notes += truncation_notes(run_a, run_b, pa & pb)
    scores = tuple(
        compare_score(name, outcomes(ea, name, passed), outcomes(eb, name, passed),
                      order=natural_key, alpha=alpha, flip_method=flip_method)
        for name in names)
    return Comparison(run_a=ma.run_id, run_b=mb.run_id, model_a=ma.model.name,
                      model_b=mb.model.name, benchmark=ma.benchmark, max_drop_pp=max_drop_pp,
                      alpha=alpha, scores=decide_all(scores, alpha=alpha,
                                                     max_drop_pp=max_drop_pp),
                      diffs=tuple(diffs), notes=tuple(notes + infra_notes), infra=infra,
                      warnings=tuple(warnings), max_infra_share=max_infra_share)


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
