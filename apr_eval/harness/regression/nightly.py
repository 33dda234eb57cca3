"""``apr-eval nightly``: run what is missing of a models x benchmarks matrix, compare, report.

Idempotent: each cell's run id is derived from everything that defines its outputs (the
pipeline's spec digest) plus the model's identity (the model file's sha256, or the directory's
listing, the config's ``revision``, and the UTC day with ``rerun = "daily"``). A finished run is
never recomputed; an unfinished one (a crash, a kill) is resumed by the pipeline, which only
appends what is missing. Each run is then compared with the previous finished run of the same
model and comparability key (or a named baseline) and a Markdown report is written under
``<results>/nightly/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apr_eval.benchmarks.base import open_benchmark
from apr_eval.benchmarks.prompts import load_preset
from apr_eval.core import PromptStyle, RunManifest, RunSpec, Verdict, spec_digest
from apr_eval.errors import AprEvalError, BackendError
from apr_eval.harness.regression.compare import Comparison, compare_runs, list_runs, resolve_run
from apr_eval.harness.regression.nightly_config import (
    Cell,
    ConfigError,
    NightlyConfig,
    load_config,
    place_error,
)
from apr_eval.harness.regression.nightly_report import CellOutcome, write_report
from apr_eval.harness.regression.paired import decide
from apr_eval.harness.regression.places import Place
from apr_eval.harness.run import pipeline
from apr_eval.harness.run.execution import execute_stage
from apr_eval.harness.run.rundir import RunDir
from apr_eval.harness.run.stages import ingest, score
from apr_eval.harness.scoring import stats
from apr_eval.sandbox.executor import Executor

__all__ = ["CellOutcome", "NightlyOutcome", "load_config", "run_nightly"]

Echo = Callable[[str], None]
ExecutorFactory = Callable[[str], Executor]
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class NightlyOutcome:
    cells: tuple[CellOutcome, ...]
    report_path: Path

    @property
    def regressed(self) -> bool:
        return any(c.comparison is not None and c.comparison.regressed for c in self.cells)

    @property
    def failed(self) -> bool:
        return any(c.failed or (c.comparison is not None and c.comparison.inconclusive)
                   for c in self.cells)

    @property
    def exit_code(self) -> int:
        """1 on any regression (significant after correction across the night and larger
        than max_drop), else 3 when a cell could not run, compare or was inconclusive,
        else 0."""
        return 1 if self.regressed else 3 if self.failed else 0


# ------------------------------------------------------------------ model identity


def _file_sha256(path: Path, cache_path: Path) -> str:
    """sha256 of a model file, cached by (path, size, mtime) so big GGUFs hash once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return str(cache[key])
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    cache[key] = digest.hexdigest()
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, indent=1))
    tmp.replace(cache_path)
    return digest.hexdigest()


def model_fingerprint(cell: Cell, *, rerun: str, cache_path: Path,
                      now: datetime | None = None) -> str:
    """What changes when the model changes: its bytes (file), its listing (directory), the
    config's revision, and the day with ``rerun = "daily"``."""
    path = Path(cell.model.model)
    content = ""
    if path.is_file():
        content = _file_sha256(path, cache_path)
    elif path.is_dir():
        listing = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                         for p in path.rglob("*") if p.is_file())
        content = hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    day = (now or datetime.now(UTC)).date().isoformat() if rerun == "daily" else ""
    blob = json.dumps([content, cell.model.revision, day])
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


# ------------------------------------------------------------------ cells -> runs


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:40] or "model"


def cell_spec(cell: Cell, executor: str, fingerprint: str) -> RunSpec:
    """The pipeline's RunSpec for a cell, with the nightly run id."""
    spec = RunSpec(
        model=cell.model.model, benchmark=cell.benchmark.name, backend=cell.model.backend,
        backend_options=dict(cell.model.options), benchmark_version=cell.benchmark.version,
        benchmark_options=dict(cell.benchmark.options), sampling=cell.sampling,
        prompt_style=None if cell.prompt_style == "auto" else PromptStyle(cell.prompt_style),
        prompt_preset=cell.prompt_preset, limits=cell.limits,
        problems=cell.benchmark.problems, limit=cell.limit, batch_size=cell.batch_size,
        executor=executor)
    run_id = (f"{_slug(cell.model.name)}-{_slug(cell.benchmark.name)}-"
              f"{spec_digest(spec)}-{fingerprint}")
    return dataclasses.replace(spec, run_id=run_id)


def is_complete(run: RunDir) -> bool:
    """Scored, and every (problem, sample) of the manifest has a verdict."""
    if not run.exists() or not (run.path / "scores.json").exists():
        return False
    manifest = run.manifest()
    n = manifest.sampling.n if manifest.sampling else 1
    have = {(k.problem_id, k.sample_index) for k in run.executions()}
    return all((p, i) in have for p in manifest.problems for i in range(n))


def _same_model(a: RunManifest, b: RunManifest) -> bool:
    def model(m: RunManifest) -> str:
        return m.model.name if m.spec is None else m.spec.model

    return (a.backend, model(a)) == (b.backend, model(b))


def previous_run(run: RunDir, results_dir: Path) -> RunDir | None:
    """The newest finished run before ``run`` of the same model and comparability fields."""
    me = run.manifest()
    key = me.comparability_fields()
    candidates = [r for r, m in list_runs(results_dir)
                  if r.run_id != me.run_id and m.created_at <= me.created_at
                  and _same_model(m, me) and m.comparability_fields() == key
                  and is_complete(r)]
    return candidates[-1] if candidates else None


# ------------------------------------------------------------------ the night


def preflight(config: NightlyConfig) -> None:
    """Open every benchmark entry and prompt preset before any model is loaded."""
    for i, bench in enumerate(config.benchmarks):
        place = Place.array("benchmarks", i)
        try:
            problems = open_benchmark(bench.name, bench.version, **bench.options).load()
            pipeline.select_problems(problems, bench.problems)
        except (AprEvalError, TypeError) as exc:
            raise place_error(config.path, place, str(exc)) from None
    for cell in config.cells():
        if cell.prompt_preset != "default":
            try:
                load_preset(cell.prompt_preset)
            except AprEvalError as exc:
                raise ConfigError(f"{config.path.name}: prompt_preset: {exc}") from None


def _compare(cell: Cell, run: RunDir, config: NightlyConfig) -> tuple[RunDir | None, str]:
    ref = cell.baseline
    if ref is not None:
        return resolve_run(ref, config.results_dir), f"named baseline {ref}"
    previous = previous_run(run, config.results_dir)
    if previous is None:
        return None, "first run of this model and key: nothing to compare yet"
    return previous, "previous run of the same model and key"


def _ingest_safely(run: RunDir, db: Path) -> tuple[bool, str]:
    """The store boundary: the run directory stays the source of truth whatever happens to
    the index, so a failing ingest is reported (and fails the night) but stops nothing."""
    try:
        return ingest(run, db), ""
    except Exception as exc:  # noqa: BLE001 - any store failure becomes one report line
        return False, f"ingest into {db} failed: {type(exc).__name__}: {exc}"


def infra_errors(run: RunDir) -> int:
    return sum(e.verdict is Verdict.INFRA_ERROR for e in run.executions().values())


def retry_infra(spec: RunSpec, run: RunDir, executor: Executor) -> int:
    """The local executor's policy for what is left as ``infra_error``: one more try of each
    such sample (fresh containers), then the run is re-scored. Returns how many remain."""
    benchmark = pipeline.open_spec_benchmark(spec)
    problems = pipeline.select_problems(benchmark.load(), spec.problems, spec.limit)
    done = execute_stage(run, benchmark, problems, executor, spec.limits,
                         retry_infra_errors=True, record_image=False)
    score(run, benchmark, [p.problem_id for p in problems], executed=done)
    return sum(e.verdict is Verdict.INFRA_ERROR for e in done.executions.values())


def _ensure_run(spec: RunSpec, run: RunDir, config: NightlyConfig,
                factory: ExecutorFactory) -> str:
    """Run or resume the cell's run unless it is finished, then retry its infra errors once;
    returns the status word."""
    status = "up to date"
    if not is_complete(run):
        status = "resumed" if run.exists() else "ran"
        pipeline.run_pipeline(spec, executor=factory(config.executor),
                              results_dir=config.results_dir)
        if not is_complete(run):
            raise BackendError("the run did not finish (samples without a verdict); "
                               "rerun to retry")
    if infra_errors(run):
        left = retry_infra(spec, run, factory(config.executor))
        status += f"; infra errors retried ({left} left)"
    return status


def _tag(run: RunDir, name: str) -> None:
    """Record the config's model name in the manifest so ``latest:NAME`` finds the run."""
    manifest = run.manifest()
    if manifest.extra.get("nightly") != {"name": name}:
        run.write_manifest(dataclasses.replace(
            manifest, extra={**manifest.extra, "nightly": {"name": name}}))


def run_cell(cell: Cell, config: NightlyConfig, *, cache_path: Path, echo: Echo,
             executor_factory: ExecutorFactory | None = None) -> CellOutcome:
    fingerprint = model_fingerprint(cell, rerun=config.rerun, cache_path=cache_path)
    spec = cell_spec(cell, config.executor, fingerprint)
    run = pipeline.run_dir_for(spec, config.results_dir)
    name, bench = cell.model.name, cell.benchmark.name
    echo(f"{name} x {bench}: run id {run.run_id}")
    try:
        status = _ensure_run(spec, run, config, executor_factory or pipeline.open_executor)
        _tag(run, name)
        ingested, ingest_error = _ingest_safely(run, config.results_dir / "apr-eval.duckdb")
        base = CellOutcome(name, bench, run.run_id, status, ingested=ingested,
                           ingest_error=ingest_error)
        baseline, why = _compare(cell, run, config)
        if baseline is None:
            return dataclasses.replace(base, message=why)
        comparison = compare_runs(baseline, run, max_drop_pp=config.max_drop,
                                  alpha=config.alpha, max_infra_share=config.max_infra_share)
    except AprEvalError as exc:
        echo(f"{name} x {bench}: FAILED: {exc}")
        return CellOutcome(name, bench, run.run_id, "failed", message=str(exc))
    return dataclasses.replace(base, baseline=baseline.run_id, comparison=comparison,
                               message=why)


def run_nightly(config: NightlyConfig, *, echo: Echo = lambda _: None,
                cache_path: Path | None = None, now: datetime | None = None,
                executor_factory: ExecutorFactory | None = None) -> NightlyOutcome:
    """Every cell in config order; a failing cell is reported and the others still run."""
    preflight(config)
    cache = cache_path or config.results_dir / "nightly" / "model-sha256.json"
    outcomes = []
    for cell in config.cells():
        outcome = run_cell(cell, config, cache_path=cache, echo=echo,
                           executor_factory=executor_factory)
        if outcome.comparison is not None:
            echo(f"{cell.model.name} x {cell.benchmark.name}: {outcome.status}; compared "
                 f"with {outcome.baseline}")
        else:
            echo(f"{cell.model.name} x {cell.benchmark.name}: {outcome.status}; "
                 f"{outcome.message}")
        if outcome.ingest_error:
            echo(f"{cell.model.name} x {cell.benchmark.name}: {outcome.ingest_error}")
        outcomes.append(outcome)
    if outcomes and not any(o.ingested for o in outcomes):
        echo("database: not updated (the store is not installed in this checkout)")
    outcomes = correct_night(outcomes, config)
    for o in outcomes:
        if o.comparison is not None:
            c = o.comparison
            echo(f"{o.model} x {o.benchmark}: " + ("INCONCLUSIVE (infra errors)"
                 if c.inconclusive else "REGRESSED" if c.regressed else "ok"))
    report = write_report(config, outcomes, now or datetime.now(UTC))
    return NightlyOutcome(tuple(outcomes), report)


def correct_night(outcomes: Sequence[CellOutcome], config: NightlyConfig) -> list[CellOutcome]:
    """Re-decide every comparison with p-values corrected across the whole night: one family
    per cell (a run's nested scores), Holm across cells (:func:`stats.family_adjust`)."""
    compared = [i for i, o in enumerate(outcomes) if o.comparison is not None
                and not o.comparison.inconclusive]
    families = [[s.test.p_value for s in _comparison(outcomes[i]).scores] for i in compared]
    adjusted = stats.family_adjust(families)
    out = list(outcomes)
    for i, ps in zip(compared, adjusted, strict=True):
        c = _comparison(outcomes[i])
        scores = tuple(decide(s, p, alpha=config.alpha, max_drop_pp=config.max_drop)
                       for s, p in zip(c.scores, ps, strict=True))
        out[i] = dataclasses.replace(outcomes[i], comparison=dataclasses.replace(
            c, scores=scores, corrected_across=len(compared)))
    return out


def _comparison(outcome: CellOutcome) -> Comparison:
    if outcome.comparison is None:
        raise ValueError("no comparison")
    return outcome.comparison
