"""The nightly's statistics: infra errors retried then never evidence, and p-values corrected
across the night (a drop that is significant alone need not be in a night of many cells)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nightly_support import F, P, nightly_toml, problems, register_flaky, write_run
from test_nightly_run import plugins  # noqa: F401 - the toy registries fixture

from apr_eval.cli import entrypoint
from apr_eval.harness.regression.compare import compare_runs
from apr_eval.harness.regression.nightly import correct_night
from apr_eval.harness.regression.nightly_config import load_config
from apr_eval.harness.regression.nightly_report import CellOutcome
from apr_eval.harness.run.rundir import RunDir


@pytest.fixture(autouse=True)
def flaky(request: pytest.FixtureRequest) -> Iterator[None]:
    request.getfixturevalue("plugins")  # the toy plugins, in throwaway registries ...
    register_flaky()  # ... and the flaky executors on top
    yield


def night(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, executor: str,
          revision: str) -> tuple[int, str]:
    config = tmp_path / f"{name}.toml"
    text = nightly_toml(tmp_path / "results", [{"name": "m", "revision": revision}])
    config.write_text(text.replace('executor = "toyexec"', f'executor = "{executor}"'))
    try:
        code = entrypoint(["nightly", "--config", str(config)])
    except SystemExit as exc:
        code = exc.code
    out, _ = capsys.readouterr()
    return int(code or 0), out


def test_infra_errors_are_retried_then_compared(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out = night(tmp_path, capsys, "n1", "toyexec", "1")
    assert code == 0, out
    code, out = night(tmp_path, capsys, "n2", "flakyexec", "2")
    assert code == 0, out
    assert "infra errors retried (0 left)" in out
    runs = [p for p in (tmp_path / "results").iterdir() if (p / "manifest.json").exists()]
    for run in runs:
        assert all(e.verdict.value != "infra_error" for e in RunDir(run).executions().values())


def test_infra_errors_that_stay_are_inconclusive_never_a_regression(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = night(tmp_path, capsys, "n1", "toyexec", "1")
    assert code == 0, out
    code, out = night(tmp_path, capsys, "n2", "brokenexec", "2")
    assert code == 3, out  # 3 of 20 samples (15%) never ran: not evidence of a drop
    assert "INCONCLUSIVE" in out
    report = (tmp_path / "results" / "nightly" / "latest.md").read_text()
    assert "INCONCLUSIVE" in report and "REGRESSION" not in report


def test_correction_across_the_night(tmp_path: Path) -> None:
    """6 of 20 lost alone regresses (exact McNemar p = 2 / 2**6 = 0.031 on both nested
    scores, one family); in a night with a second, quiet cell it does not (Holm: 0.0625)."""
    pids = problems(20)
    a = write_run(tmp_path, "a", {p: [(P, P)] for p in pids})
    b = write_run(tmp_path, "b", {p: [(F, F)] if i < 6 else [(P, P)]
                                  for i, p in enumerate(pids)})
    quiet = write_run(tmp_path, "q", {p: [(P, P)] for p in pids})
    alone = compare_runs(a, b)
    assert alone.regressed
    config_path = tmp_path / "c.toml"
    config_path.write_text(nightly_toml(tmp_path, [{"name": "m"}]))
    config = load_config(config_path)
    cells = [CellOutcome("m", "x", "b", "ran", comparison=alone),
             CellOutcome("n", "x", "q", "ran", comparison=compare_runs(a, quiet))]
    corrected = correct_night(cells, config)
    c = corrected[0].comparison
    assert c is not None and not c.regressed and c.corrected_across == 2
    assert c.scores[1].p_adjusted == pytest.approx(0.0625)
    assert "2 comparisons" in __import__(
        "apr_eval.harness.regression.report", fromlist=["rule_text"]).rule_text(c)
