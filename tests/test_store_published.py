"""LiveCodeBench's published leaderboard: window scores checked against the file itself."""

from __future__ import annotations

import dataclasses
import json
import statistics
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from store_support import F, P, fixture_results, model, write_run

from apr_eval.errors import DataError
from apr_eval.harness.run import rundir
from apr_eval.leaderboard import ingest, published, store
from apr_eval.leaderboard import queries as q
from apr_eval.leaderboard import run_queries as rq

ROOT = Path(__file__).resolve().parents[1]
DATA = next((p / "shared" / "data" / "livecodebench" for p in (ROOT, ROOT.parent)
             if (p / "shared" / "data" / "livecodebench").is_dir()),
            ROOT.parent / "shared" / "data" / "livecodebench")
LEADERBOARD = DATA / "leaderboard_performances_generation_2025-04-22.json"
PROBLEMS = DATA / "livecodebench_v5v6_new_problems_public_tests_only.jsonl"

pytestmark = pytest.mark.skipif(not LEADERBOARD.exists(), reason=f"needs {LEADERBOARD}")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(LEADERBOARD.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("published")
    path = root / "apr-eval.duckdb"
    report = published.import_published(path, LEADERBOARD)
    assert (report.models, report.problems, report.rows) == (16, 1055, 16 * 1055)
    return path


def day(ms: int) -> date:
    # The file's dates are the dataset's contest_date + 1 day (see published.py).
    return datetime.fromtimestamp(ms / 1000, UTC).date() - timedelta(days=1)


def direct(doc: dict[str, Any], model: str, start: date, end: date) -> tuple[int, float]:
    values = [p["pass@1"] / 100 for p in doc["performances"]
              if p["model"] == model and start <= day(p["date"]) <= end]
    return len(values), statistics.fmean(values)


@pytest.mark.parametrize(("start", "end"), [
    (date(2023, 5, 1), date(2025, 4, 30)),
    (date(2024, 8, 1), date(2025, 4, 30)),
    (date(2025, 1, 1), date(2025, 2, 28)),
])
def test_window_scores_match_the_file(db: Path, doc: dict[str, Any], start: date,
                                      end: date) -> None:
    with store.reader(db) as con:
        frame = q.window_table(con, q.DateWindow(start, end), show_contaminated=True)
    frame = frame.set_index("model")
    assert len(frame) == 16
    for name in ("O4-Mini (High)", "DeepSeek-V3", "Claude-3-Haiku", "GPT-4O-2024-08-06"):
        count, mean = direct(doc, name, start, end)
        assert frame.loc[name, "problems"] == count
        assert frame.loc[name, "pass@1"] == pytest.approx(mean, abs=1e-12)
        assert frame.loc[name, "published"]


def test_release_date_stands_in_for_the_cutoff(db: Path, doc: dict[str, Any]) -> None:
    release = {m["model_repr"]: datetime.fromtimestamp(m["release_date"] / 1000, UTC).date()
               for m in doc["models"]}
    assert release["DeepSeek-V3"] == date(2024, 6, 30)
    with store.reader(db) as con:
        early = q.window_table(con, q.DateWindow(date(2024, 6, 1), date(2025, 4, 30)))
        late = q.window_table(con, q.DateWindow(date(2024, 7, 1), date(2025, 4, 30)))
    assert "DeepSeek-V3" not in set(early["model"])  # released after the window start
    assert "DeepSeek-V3" in set(late["model"])
    hidden = {m for m, d in release.items() if d >= date(2024, 6, 1)}
    assert set(early["model"]) == set(release) - hidden
    assert set(late["cutoff_source"]) == {published.CUTOFF_SOURCE}
    assert late["rank"].tolist() == sorted(late["rank"].tolist())


def test_problem_dates_agree_with_the_dataset(tmp_path: Path) -> None:
    """The -1 day correction makes the file's dates equal the dataset's contest_date."""
    db = tmp_path / "db.duckdb"
    published.import_published(db, LEADERBOARD)
    assert published.import_problems(db, PROBLEMS) == 342
    with store.reader(db) as con:
        rows = con.execute("""SELECT problem_id, count(DISTINCT release_date) FROM problems
                              GROUP BY ALL HAVING count(*) > 1""").fetchall()
    assert len(rows) == 342
    assert all(n == 1 for _, n in rows)


def test_published_runs_beside_user_runs_and_rebuild_keeps_them(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    published.import_published(db, LEADERBOARD)
    fixture_results(tmp_path / "results")
    report = ingest.rebuild(db, tmp_path / "results")
    assert report.kept_published == 16 and len(report.ingested) == 6
    published.import_published(db, LEADERBOARD)  # re-import replaces, never duplicates
    with store.reader(db) as con:
        runs = rq.runs_table(con)
        assert int(runs["published"].sum()) == 16 and len(runs) == 22
        n = con.execute("SELECT count(*) FROM problem_results WHERE run_id LIKE 'published:%'")
        assert n.fetchone()[0] == 16 * 1055


def test_not_a_leaderboard_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"performances": []}')
    with pytest.raises(DataError, match="not a LiveCodeBench performances file"):
        published.import_published(tmp_path / "db.duckdb", bad)
    assert not (tmp_path / "db.duckdb").exists()


def test_a_livecodebench_run_beside_the_published_models(tmp_path: Path) -> None:
    """A user run on the embedded LCB problems gets its dates from the benchmark itself and
    is ranked in the same window as the published models."""
    from apr_eval.benchmarks.base import open_benchmark

    problems = open_benchmark("livecodebench").load()[:40]
    samples = {p.problem_id: [P if i % 3 else F] for i, p in enumerate(problems)}
    run = write_run(tmp_path / "r", "mine", model("mine", cutoff=date(2024, 1, 1)),
                    "livecodebench", samples)
    manifest = rundir.RunDir(run).manifest()
    rundir.RunDir(run).write_manifest(dataclasses.replace(
        manifest, benchmark_version=open_benchmark("livecodebench").version))
    db = tmp_path / "db.duckdb"
    published.import_published(db, LEADERBOARD)
    ingest.ingest_run(db, run)
    start = date(2025, 1, 1)
    inside = [i for i, p in enumerate(problems) if p.release_date and p.release_date >= start]
    with store.reader(db) as con:
        frame = q.window_table(con, q.DateWindow(start, date(2025, 4, 30))).set_index("model")
    assert frame.loc["mine", "problems"] == len(inside) > 0
    assert frame.loc["mine", "pass@1"] == pytest.approx(
        statistics.fmean(1.0 if i % 3 else 0.0 for i in inside))
    assert len(frame) == 17  # the 16 published models (all released before 2025) and mine
