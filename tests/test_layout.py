"""One home per concept: benchmark and score names live in benchmarks/ (and CLI defaults), and
a benchmark added through the registry alone runs, scores, compares and reaches the store."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pytest
import toybench

from apr_eval.benchmarks.base import BENCHMARKS, leaderboard_layout, score_rule
from apr_eval.core import HEADLINE, RunSpec, SamplingParams, Verdict
from apr_eval.harness.regression.compare import compare_runs
from apr_eval.harness.run import pipeline
from apr_eval.sandbox.executor import FakeExecutor

PACKAGE = Path(__file__).resolve().parent.parent / "apr_eval"
OWNERS = ("benchmarks", "cli")  # the benchmark's own modules, and the CLI's defaults
NAMES = {"humaneval", "humaneval+", "mbpp", "mbpp+", "livecodebench", "base", "plus"}
# Registry and score names are lowercase identifiers; "LiveCodeBench" in a sentence is prose.
NAMED = re.compile(r"\b(humaneval|mbpp|livecodebench)\b|HumanEval/|Mbpp/")
# (file, literal) pairs allowed to name one; none today.
ALLOWED: set[tuple[str, str]] = set()


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _named_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prose = _docstrings(tree)
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in prose and (node.value in NAMES or NAMED.search(node.value))]


def test_no_benchmark_or_score_name_outside_the_benchmarks() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.split("/")[0] in OWNERS:
            continue
        found += [f"{rel}: {lit!r}" for lit in _named_literals(path)
                  if (rel, lit) not in ALLOWED]
    assert found == []


def test_the_check_sees_a_name() -> None:
    assert _named_literals(Path(__file__)) != []  # this file names them: the check can see it


def _spec(run_id: str, good: dict[str, list[str]]) -> RunSpec:
    return RunSpec(model="fake", benchmark="toy", backend="fake", run_id=run_id,
                   backend_options={"responses": good}, sampling=SamplingParams(n=2),
                   executor="fake")


def test_a_registered_benchmark_runs_scores_compares_and_is_stored(tmp_path: Path) -> None:
    pytest.importorskip("apr_eval.leaderboard.ingest")
    from apr_eval.leaderboard import run_queries, store, tables
    from apr_eval.leaderboard.ingest import ingest_run

    toybench.register()  # the registry line is the only thing that names it
    assert "toy" in BENCHMARKS.names()
    good = {"def f": ["    return 1\n", "    return 0\n"]}  # sample 0: odd ids, 1: even ids
    db = tmp_path / "db.duckdb"
    a = pipeline.run_pipeline(_spec("a", good), executor=FakeExecutor(), results_dir=tmp_path,
                              db_path=db, ingest_run=ingest_run)
    b = pipeline.run_pipeline(_spec("b", {"def f": ["    return 1\n"] * 2}),
                              executor=FakeExecutor(), results_dir=tmp_path, db_path=db,
                              ingest_run=ingest_run)
    assert a.ingested and b.ingested
    assert {s.benchmark for s in a.scores} == {"toy"}
    [p1] = [s for s in a.scores if s.k == 1]
    assert p1.pass_at_k == pytest.approx(0.5) and p1.problems == 6
    comparison = compare_runs(a.run, b.run)
    assert [s.score for s in comparison.scores] == ["toy"]
    family = leaderboard_layout().families["toy"]
    assert family == ("toy",)
    with store.reader(db) as con:
        assert run_queries.score_names(con, ["a", "b"]) == ["toy"]
        per_problem = run_queries.problem_outcomes(con, "a", "toy")
        frame = tables.family_table(con, family, include_unranked=True)
    assert per_problem["passed"].tolist() == [1] * 6  # one of two samples passes each problem
    assert set(frame["run_id"]) == {"a", "b"}


def test_the_store_counts_passes_by_the_benchmarks_rule(tmp_path: Path) -> None:
    """A benchmark whose strict score is not named with a '+' is still counted its own way."""
    rule = score_rule("toy")
    both = {HEADLINE: Verdict.PASSED, "base": Verdict.PASSED}
    assert rule.names == ("toy",) and rule.counts("toy", [both, {"base": Verdict.FAILED}]) == 1
    unknown = score_rule("no-such-benchmark")
    assert unknown.names == ("no-such-benchmark",)
    assert unknown.passed("no-such-benchmark", {HEADLINE: Verdict.PASSED})
    assert not unknown.passed("no-such-benchmark", {HEADLINE: Verdict.TIMEOUT})


def test_old_databases_get_per_problem_results_from_the_rule(tmp_path: Path) -> None:
    """The 0002 migration fills problem_results by the same rule as ingest."""
    pytest.importorskip("apr_eval.leaderboard.ingest")
    from apr_eval.leaderboard import store
    from apr_eval.leaderboard.ingest import ingest_run
    from apr_eval.leaderboard.migrations import migrate

    toybench.register()
    run = pipeline.run_pipeline(_spec("old", {"def f": ["    return 1\n"] * 2}),
                                executor=FakeExecutor(), results_dir=tmp_path).run
    db = tmp_path / "db.duckdb"
    ingest_run(db, run.path)
    with store.reader(db) as con:
        want = con.execute("SELECT * FROM problem_results ORDER BY ALL").fetchall()
    con = duckdb.connect(str(db))
    try:
        con.execute("DROP TABLE problem_results")
        con.execute("ALTER TABLE scores DROP COLUMN ci_method")
        con.execute("DELETE FROM schema_migrations WHERE name <> '0001_initial'")
        migrate(con)
        got = con.execute("SELECT * FROM problem_results ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert got == want and len(got) == 6
