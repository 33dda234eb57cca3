"""`apr-eval nightly` end to end with the fake backend, the toy benchmark and toy executor."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from nightly_support import (
    FAIL_BODY,
    PLUS_FAIL_BODY,
    TIMEOUT_BODY,
    nightly_toml,
    register,
    report_flips,
)

from apr_eval.cli import entrypoint
from apr_eval.harness.regression.nightly import model_fingerprint
from apr_eval.harness.regression.nightly_config import load_config

REGRESS = {1: FAIL_BODY, 2: FAIL_BODY, 3: PLUS_FAIL_BODY, 4: TIMEOUT_BODY, 5: FAIL_BODY,
           6: FAIL_BODY, 7: FAIL_BODY}


@pytest.fixture(autouse=True)
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from apr_eval.benchmarks.base import BENCHMARKS
    from apr_eval.sandbox.executor import EXECUTORS

    for registry in (BENCHMARKS, EXECUTORS):
        monkeypatch.setattr(registry, "_targets", dict(registry._targets))
        monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
    register()
    yield


def nightly(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
            models: list[Mapping[str, Any]], **kw: Any) -> tuple[int, str]:
    config = tmp_path / f"{name}.toml"
    config.write_text(nightly_toml(tmp_path / "results", models, **kw))
    try:
        code = entrypoint(["nightly", "--config", str(config)])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return int(code or 0), out


def test_regression_exits_1_and_report_lists_exactly_those_flips(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = nightly(tmp_path, capsys, "night1", [{"name": "m", "revision": "1"}])
    assert code == 0, out
    assert "first run of this model and key" in out
    code, out = nightly(tmp_path, capsys, "night2",
                        [{"name": "m", "revision": "2", "bodies": REGRESS}])
    assert code == 1, out
    assert "REGRESSED" in out
    report = (tmp_path / "results" / "nightly" / "latest.md").read_text()
    assert "**REGRESSION** in 1 of 1 cells: m x toyplus" in report
    assert report_flips(report) == {
        "toyplus: passed by A, failed by B": {
            "tp/1": "failed", "tp/2": "failed", "tp/4": "timeout", "tp/5": "failed",
            "tp/6": "failed", "tp/7": "failed"},
        "toyplus+: passed by A, failed by B": {
            "tp/1": "failed", "tp/2": "failed", "tp/3": "failed", "tp/4": "timeout",
            "tp/5": "failed", "tp/6": "failed", "tp/7": "failed"},
    }


def test_identical_scripted_runs_exit_0(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bodies = {0: FAIL_BODY, 9: TIMEOUT_BODY}  # the same failures both nights
    code, _ = nightly(tmp_path, capsys, "n1", [{"name": "m", "revision": "1", "bodies": bodies}])
    assert code == 0
    code, out = nightly(tmp_path, capsys, "n2",
                        [{"name": "m", "revision": "2", "bodies": bodies}])
    assert code == 0, out
    runs = sorted(p.name for p in (tmp_path / "results").iterdir() if p.name.startswith("m-"))
    assert len(runs) == 2  # two runs were made and compared
    report = (tmp_path / "results" / "nightly" / "latest.md").read_text()
    assert "**OK**: no regression in 1 cells" in report
    assert report_flips(report) == {}
    assert "| toyplus | 20 | 1 | 90.00 | 90.00 | +0.00 |" in report


def test_rerun_recomputes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = [{"name": "a", "revision": "1"}, {"name": "b", "revision": "1",
                                                "bodies": {3: FAIL_BODY}}]
    code, _ = nightly(tmp_path, capsys, "n", models)
    assert code == 0
    results = tmp_path / "results"
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns)
             for p in results.glob("*-toyplus-*/*") if p.is_file()}
    assert len(files) == 2 * 4  # manifest, completions, executions, scores per run
    code, out = nightly(tmp_path, capsys, "n", models)
    assert code == 0
    assert out.count("up to date") == 2
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == files


def test_named_baseline_and_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The fake model's own name differs from the config name: `latest:ref` must find the run
    # by the name the nightly config gave it.
    # 7 of 20 lost would regress alone (p = 0.016) but not in a night of two compared cells
    # (Holm: 0.031 x 2); 10 lost does.
    big = {**REGRESS, 8: FAIL_BODY, 9: FAIL_BODY, 10: FAIL_BODY}
    models = [{"name": "ref", "model": "weights-v7"},
              {"name": "cand", "baseline": "latest:ref", "bodies": big},
              {"name": "fine", "baseline": "latest:ref", "bodies": {0: FAIL_BODY}}]
    code, out = nightly(tmp_path, capsys, "n", models)
    assert code == 1, out
    report = (tmp_path / "results" / "nightly" / "latest.md").read_text()
    assert "**REGRESSION** in 1 of 3 cells: cand x toyplus" in report
    assert re.search(r"\| cand \| toyplus \| `cand-toyplus-\S+` \| ran \| `ref-toyplus-", report)
    assert re.search(r"\| fine \| toyplus .* toyplus: no significant change", report)


def test_failing_cell_is_reported_and_others_still_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = [{"name": "orphan", "baseline": "latest:nobody"}, {"name": "ok"}]
    code, out = nightly(tmp_path, capsys, "n", models)
    assert code == 3, out
    report = (tmp_path / "results" / "nightly" / "latest.md").read_text()
    assert "**FAILED** 1 cell(s): orphan x toyplus" in report
    assert "no run of model 'nobody'" in report
    assert re.search(r"\| ok \| toyplus \| `ok-toyplus-\S+` \| ran \|", report)


def test_model_fingerprint_follows_the_file_and_the_policy(tmp_path: Path) -> None:
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"weights v1")
    text = nightly_toml(tmp_path / "r", [{"name": "m"}]).replace('model = "m"',
                                                                  f'model = "{weights}"')
    (tmp_path / "n.toml").write_text(text)
    cell = load_config(tmp_path / "n.toml").cells()[0]
    cache = tmp_path / "cache.json"
    one = model_fingerprint(cell, rerun="on-change", cache_path=cache)
    assert model_fingerprint(cell, rerun="on-change", cache_path=cache) == one
    assert str(weights.resolve()) in cache.read_text()  # hashed once, then cached
    weights.write_bytes(b"weights v2 (a new checkpoint at the same path)")
    two = model_fingerprint(cell, rerun="on-change", cache_path=cache)
    assert two != one
    from datetime import UTC, datetime

    day1 = model_fingerprint(cell, rerun="daily", cache_path=cache,
                             now=datetime(2026, 11, 24, 23, tzinfo=UTC))
    day2 = model_fingerprint(cell, rerun="daily", cache_path=cache,
                             now=datetime(2026, 11, 25, 1, tzinfo=UTC))
    assert len({two, day1, day2}) == 3


def test_failing_ingest_is_loud_but_loses_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from apr_eval.harness.regression import nightly as nightly_module

    def broken(run: object, db: Path) -> bool:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(nightly_module, "ingest", broken)
    code, out = nightly(tmp_path, capsys, "n", [{"name": "m"}])
    assert code == 3
    assert "ingest into" in out and "RuntimeError: database is locked" in out
    (run,) = (tmp_path / "results").glob("m-toyplus-*")
    assert (run / "scores.json").exists()  # the run itself is complete and kept
    report = (tmp_path / "results" / "nightly" / "latest.md").read_text()
    assert "**FAILED** 1 cell(s): m x toyplus" in report


def test_runs_are_ingested_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With the DuckDB store installed, a rerun adds no duplicate rows."""
    pytest.importorskip("apr_eval.leaderboard.ingest")
    import duckdb

    models = [{"name": "a", "revision": "1"}, {"name": "b", "bodies": {1: FAIL_BODY}}]
    for _ in range(2):
        code, out = nightly(tmp_path, capsys, "n", models)
        assert code == 0, out
    con = duckdb.connect(str(tmp_path / "results" / "apr-eval.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT run_id, count(*) FROM runs GROUP BY run_id").fetchall()
    finally:
        con.close()
    assert sorted(n for _, n in rows) == [1, 1]
    assert {r for r, _ in rows} == {p.name for p in (tmp_path / "results").glob("*-toyplus-*")}
