"""Leaderboard queries on a fixture database with known numbers (no Streamlit involved)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from store_support import LCB_DATES, F, P, fixture_results, model, write_run

from apr_eval.harness.run import rundir
from apr_eval.harness.run.rundir import RunDir
from apr_eval.leaderboard import ingest, store, tables
from apr_eval.leaderboard import queries as q
from apr_eval.leaderboard import run_queries as rq
from apr_eval.leaderboard.migrations import Connection


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    fixture_results(root / "results")
    path = root / "apr-eval.duckdb"
    ingest.rebuild(path, root / "results")
    return path


@pytest.fixture
def con(db: Path) -> Iterator[Connection]:
    with store.reader(db) as c:
        yield c


def wald(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def test_family_table_is_exact(con: Connection) -> None:
    from apr_eval.leaderboard import tables

    frame = tables.family_table(con, q.FAMILIES["HumanEval"])
    assert frame["group"].nunique() == 1  # same settings, different models: comparable
    expected = pd.DataFrame({
        "rank": [1, 2], "model": ["coder-q8", "coder-q4"],
        "humaneval pass@1": [0.75, 0.75], "humaneval pass@1 low": [0.5, 0.5],
        "humaneval pass@1 high": [1.0, 1.0],
        "humaneval+ pass@1": [0.75, 0.5], "humaneval+ pass@1 low": [0.5, 0.25],
        "humaneval+ pass@1 high": [1.0, 0.75], "max_tokens cut": [0.0, 0.0],
        "problems": [4, 4], "samples/problem": [1, 1], "temperature": [0.0, 0.0],
        "status": ["complete", "complete"], "evaluations": [1, 1],
        "quantization": ["Q8_0", "Q4_K_M"], "bits": [8.0, 4.0],
        "published": [False, False], "run_id": ["q8-he", "q4-he"],
    })
    shown = frame[list(expected.columns)]
    assert_frame_equal(shown, expected, check_dtype=False)


def test_family_table_shows_the_share_of_samples_cut_by_max_tokens(tmp_path: Path) -> None:
    run = RunDir(write_run(tmp_path / "results", "cut-he", model("long-talker"), "humaneval",
                           {f"HumanEval/{i}": [(P, P)] for i in range(4)},
                           score_names=["humaneval", "humaneval+"]))
    completions = list(run.completions().values())
    rundir.write_jsonl(run.path / rundir.COMPLETIONS, [rundir.completion_to_json(
        dataclasses.replace(c, finish_reason="length" if c.problem_id == "HumanEval/3"
                            else "stop")) for c in completions])
    ingest.rebuild(tmp_path / "db.duckdb", tmp_path / "results")
    with store.reader(tmp_path / "db.duckdb") as c:
        frame = tables.family_table(c, q.FAMILIES["HumanEval"])
    assert frame.set_index("run_id")["max_tokens cut"].to_dict() == {"cut-he": 0.25}


def _lcb_values(run: str, start: date) -> list[float]:
    per_problem = {"q4-lcb": [1.0, 0.5, 0.0, 0.5], "q8-lcb": [0.5, 0.0, 1.0, 1.0]}[run]
    return [v for v, d in zip(per_problem, LCB_DATES.values(), strict=True) if d >= start]


def test_window_table_recomputes_and_hides_contaminated(con: Connection) -> None:
    # q4's cutoff (2024-02-01) is after this start: contaminated, hidden by default.
    window = q.DateWindow(date(2024, 1, 1), date(2024, 12, 31))
    frame = q.window_table(con, window)
    mean, low, high = wald(_lcb_values("q8-lcb", window.start))
    expected = pd.DataFrame({
        "rank": [1], "model": ["coder-q8"], "pass@1": [mean], "pass@1 low": [low],
        "pass@1 high": [high], "problems": [4], "contaminated": [False],
        "cutoff": [date(2023, 6, 1)], "cutoff_source": ["declared"], "published": [False],
        "quantization": ["Q8_0"], "bits": [8.0], "parameters": [1_500_000_000],
        "base_model": ["coder"], "run_id": ["q8-lcb"], "model_id": ["coder-q8|Q8_0|8"],
    })
    assert_frame_equal(frame.drop(columns="config"), expected, check_dtype=False)
    shown = q.window_table(con, window, show_contaminated=True)
    assert list(shown["model"]) == ["coder-q8", "coder-q4"]
    assert shown["contaminated"].tolist() == [False, True]
    assert pd.isna(shown["rank"].iloc[1])  # shown, marked, never ranked
    assert shown["pass@1"].iloc[1] == 0.5


@pytest.mark.parametrize(("start", "ranked"), [
    (date(2024, 2, 1), ["coder-q8"]),  # cutoff == start counts as contaminated
    (date(2024, 2, 2), ["coder-q8", "coder-q4"]),
    (date(2024, 6, 1), ["coder-q8", "coder-q4"]),
])
def test_window_start_moves_models_in_and_out(con: Connection, start: date,
                                              ranked: list[str]) -> None:
    frame = q.window_table(con, q.DateWindow(start, date(2024, 12, 31)))
    assert list(frame["model"]) == ranked
    for row in frame.to_dict("records"):
        values = _lcb_values(row["run_id"], start)
        assert row["problems"] == len(values)
        assert row["pass@1"] == pytest.approx(statistics.fmean(values))


def test_pass_at_k_only_where_every_problem_has_k_samples(tmp_path: Path) -> None:
    dates = {pid: d.isoformat() for pid, d in LCB_DATES.items()}
    five = {"lcb/1": [P, F, F, F, F], "lcb/2": [P, P, F, F, F],
            "lcb/3": [F] * 5, "lcb/4": [P] * 5}
    write_run(tmp_path / "r", "n5", model("n5"), "livecodebench", five,
              extra={"problem_dates": dates})
    write_run(tmp_path / "r", "n2", model("n2"), "livecodebench",
              {"lcb/1": [P, F], "lcb/2": [P, P]}, extra={"problem_dates": dates})
    db = tmp_path / "db.duckdb"
    ingest.rebuild(db, tmp_path / "r")
    with store.reader(db) as con:
        frame = q.window_table(con, q.DateWindow(date(2024, 1, 1), date(2024, 12, 31)))
    frame = frame.set_index("run_id")
    exact = [1 - math.comb(5 - c, 5) / math.comb(5, 5) for c in (1, 2, 0, 5)]
    assert frame.loc["n5", "pass@5"] == pytest.approx(statistics.fmean(exact))
    assert frame.loc["n5", "pass@1"] == pytest.approx(statistics.fmean([0.2, 0.4, 0.0, 1.0]))
    assert pd.isna(frame.loc["n2", "pass@5"])
    assert "pass@10" not in frame.columns


def test_average_needs_all_three_and_combines_intervals(con: Connection) -> None:
    window = q.DateWindow(date(2024, 3, 1), date(2024, 12, 31))
    frame = q.average_table(con, window).set_index("model")
    lcb = {r: statistics.fmean(_lcb_values(r, window.start)) for r in ("q4-lcb", "q8-lcb")}
    assert frame.loc["coder-q8", "livecodebench"] == pytest.approx(lcb["q8-lcb"])
    assert frame.loc["coder-q8", "average"] == pytest.approx((0.75 + 1.0 + lcb["q8-lcb"]) / 3)
    assert frame.loc["coder-q4", "average"] == pytest.approx((0.5 + 0.5 + lcb["q4-lcb"]) / 3)
    assert list(frame["rank"]) == [1, 2]
    assert (frame["average low"] < frame["average"]).all()
    assert (frame["average high"] > frame["average"]).all()


def test_window_curve_and_bounds(con: Connection) -> None:
    assert q.date_bounds(con) == q.DateWindow(date(2024, 1, 10), date(2024, 9, 1))
    months = q.month_starts(con)
    assert months[0] == date(2024, 1, 1) and months[-1] == date(2024, 9, 1)
    curve = q.window_curve(con, [date(2024, 1, 1), date(2024, 7, 1)], date(2024, 12, 31))
    assert curve[["window_start", "model", "problems", "pass@1"]].values.tolist() == [
        [date(2024, 1, 1), "coder-q8", 4, 0.625],
        [date(2024, 7, 1), "coder-q4", 1, 0.5],
        [date(2024, 7, 1), "coder-q8", 1, 1.0],
    ]


def test_quantization_table(con: Connection) -> None:
    assert q.base_models(con)["base_model"].tolist() == ["coder"]
    frame = q.quantization_table(con, "coder", "humaneval+")
    assert frame[["model", "bits", "pass@1"]].values.tolist() == [
        ["coder-q4", 4.0, 0.5], ["coder-q8", 8.0, 0.75]]


def test_drilldown_shows_every_sample(con: Connection) -> None:
    outcomes = rq.problem_outcomes(con, "q4-lcb", "livecodebench")
    assert outcomes[["problem_id", "n", "passed", "pass@1"]].values.tolist() == [
        ["lcb/1", 2, 2, 1.0], ["lcb/2", 2, 1, 0.5], ["lcb/3", 2, 0, 0.0], ["lcb/4", 2, 1, 0.5]]
    samples = rq.problem_samples(con, "q4-he", "HumanEval/1")
    assert samples["verdict"].tolist() == ["failed"]
    assert samples["groups"].iloc[0] == "base: passed, plus: failed"
    assert samples["failing_test"].iloc[0] == (
        "group plus, input #3\nreason: wrong output\ninput: (1, 2)\nexpected: 3\ngot: 4")
    assert samples["error_tail"].iloc[0].endswith("AssertionError")
    assert "q4-he HumanEval/1 0" in samples["code"].iloc[0]


def test_base_score_uses_the_base_group(con: Connection) -> None:
    base = rq.problem_outcomes(con, "q4-he", "humaneval")
    plus = rq.problem_outcomes(con, "q4-he", "humaneval+")
    assert base["passed"].tolist() == [1, 1, 0, 1]
    assert plus["passed"].tolist() == [1, 0, 0, 1]


def test_compare_runs_paired(con: Connection) -> None:
    summary = rq.compare_runs(con, "q4-lcb", "q8-lcb", "livecodebench").iloc[0]
    assert summary["problems"] == 4
    assert summary["delta"] == pytest.approx(0.625 - 0.5)
    assert summary["delta low"] <= summary["delta"] <= summary["delta high"]
    # Four problems moved (2 up, 2 down) but none is a real flip at 2 samples each.
    assert (summary["gained"], summary["lost"], summary["changed"]) == (0, 0, 4)
    assert summary["test"] == "paired-t" and summary["mde_pp"] > 0
    flips = rq.flipped_problems(con, "q4-lcb", "q8-lcb", "livecodebench")
    assert flips.values.tolist() == [["lcb/3", 0.0, 1.0, "gained"], ["lcb/4", 0.5, 1.0, "gained"],
                                     ["lcb/1", 1.0, 0.5, "lost"], ["lcb/2", 0.5, 0.0, "lost"]]
    assert rq.score_names(con, ["q4-he", "q8-lcb"]) == []
    assert rq.score_names(con, ["q4-he", "q8-he"]) == ["humaneval", "humaneval+"]


def test_runs_table(con: Connection) -> None:
    runs = rq.runs_table(con)
    assert sorted(runs["run_id"]) == ["q4-he", "q4-lcb", "q4-mbpp", "q8-he", "q8-lcb",
                                      "q8-mbpp"]
    assert set(runs["status"]) == {"complete"}
    assert runs.set_index("run_id").loc["q4-he", "scores"] == "humaneval, humaneval+"


def test_comparison_uses_the_run_directories_when_present(con: Connection, db: Path) -> None:
    from apr_eval.leaderboard import comparison

    result = comparison.compare(con, "q4-he", "q8-he", "humaneval+")
    assert result.source == "run directories"
    row = result.summary.iloc[0]
    assert (row["a pass@1"], row["b pass@1"], row["delta"]) == (0.5, 0.75, 0.25)
    assert row["test"] == "mcnemar-exact" and row["p value"] == 1.0
    assert result.flips.values.tolist() == [
        ["HumanEval/1", 0.0, 1.0, "gained", True, 1.0, "failed"]]  # real flip at n = 1
    # The database's own paired numbers agree where they overlap.
    db_row = rq.compare_runs(con, "q4-he", "q8-he", "humaneval+").iloc[0]
    assert (db_row["a pass@1"], db_row["b pass@1"], db_row["delta"]) == (0.5, 0.75, 0.25)
