"""Queries about single runs: the run list, per-problem drill-down, and two-run comparison.

Like :mod:`queries`, each is a typed function of a read-only connection returning a DataFrame.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from apr_eval.leaderboard.migrations import Connection

if TYPE_CHECKING:
    from apr_eval.harness.regression.paired import ScoreComparison
from apr_eval.sandbox import codec

TAIL_LINES = 20
VALUE_CHARS = 400


def _frame(con: Connection, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
    frame: pd.DataFrame = con.execute(sql, list(params)).df()
    return frame


def runs_table(con: Connection) -> pd.DataFrame:
    """Every run with its model and headline scores, newest first."""
    return _frame(con, """
        WITH named AS (SELECT run_id, string_agg(DISTINCT score_name, ', ' ORDER BY score_name)
                              AS scores FROM scores GROUP BY run_id)
        SELECT r.run_id, m.name AS model, r.benchmark, r.status, r.published, r.n,
               r.temperature, r.created_at, r.comparability_key AS config, named.scores
        FROM runs r JOIN models m USING (model_id) LEFT JOIN named USING (run_id)
        ORDER BY r.published, r.created_at DESC NULLS LAST, r.run_id""")


def score_names(con: Connection, run_ids: Sequence[str]) -> list[str]:
    """Score names every one of ``run_ids`` has per-problem results for."""
    marks = ", ".join("?" for _ in run_ids)
    rows = con.execute(f"""
        SELECT score_name FROM problem_results WHERE run_id IN ({marks})
        GROUP BY score_name HAVING count(DISTINCT run_id) = ? ORDER BY score_name""",
                       [*run_ids, len(set(run_ids))]).fetchall()
    return [r[0] for r in rows]


def problem_outcomes(con: Connection, run_id: str, score_name: str) -> pd.DataFrame:
    """Per-problem results of one run: samples, passes, pass@1, release date."""
    return _frame(con, """
        SELECT p.problem_id, d.release_date, d.difficulty, p.n, p.c AS passed,
               p.pass_at_1 AS "pass@1"
        FROM problem_results p JOIN runs r USING (run_id)
        LEFT JOIN (SELECT benchmark, problem_id, min(release_date) AS release_date,
                          min(difficulty) AS difficulty FROM problems GROUP BY ALL) d
               ON d.benchmark = r.benchmark AND d.problem_id = p.problem_id
        WHERE p.run_id = ? AND p.score_name = ?
        ORDER BY p.problem_id""", [run_id, score_name])


def _short(value: Any) -> str:
    text = repr(codec.decode(value))
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def describe_failing(failing_json: str | None) -> str:
    """The failing test as one readable block ("" when the sample failed no test)."""
    if not failing_json:
        return ""
    f = json.loads(failing_json)
    lines = [f"group {f.get('group', '?')}, input #{f.get('index', '?')}"]
    if f.get("reason"):
        lines.append(f"reason: {f['reason']}")
    for key in ("input", "expected", "got"):
        if f.get(key) is not None:
            lines.append(f"{key}: {_short(f[key])}")
    return "\n".join(lines)


def _groups(text: str | None) -> str:
    groups: dict[str, str] = json.loads(text) if text else {}
    return ", ".join(f"{k}: {v}" for k, v in groups.items())


def _tail(text: str | None) -> str:
    return "\n".join((text or "").rstrip().splitlines()[-TAIL_LINES:])


def problem_samples(con: Connection, run_id: str, problem_id: str) -> pd.DataFrame:
    """Every sample of one problem in one run: code, verdict, failing test, error tail."""
    frame = _frame(con, """
        SELECT e.sample_index, e.verdict, e.group_verdicts, e.failing, e.duration_s,
               e.detail, c.code, c.finish_reason
        FROM executions e LEFT JOIN completions c
             ON c.run_id = e.run_id AND c.problem_id = e.problem_id
            AND c.sample_index = e.sample_index
        WHERE e.run_id = ? AND e.problem_id = ?
        ORDER BY e.sample_index""", [run_id, problem_id])
    return pd.DataFrame({
        "sample_index": frame["sample_index"],
        "verdict": frame["verdict"],
        "groups": [_groups(t) for t in frame["group_verdicts"]],
        "failing_test": [describe_failing(t) for t in frame["failing"]],
        "duration_s": frame["duration_s"],
        "error_tail": [_tail(t) for t in frame["detail"]],
        "code": frame["code"].fillna(""),
        "finish_reason": frame["finish_reason"].fillna(""),
    })


def _paired(con: Connection, run_a: str, run_b: str, score_name: str) -> pd.DataFrame:
    return _frame(con, """
        SELECT a.problem_id, a.pass_at_1 AS a, b.pass_at_1 AS b
        FROM problem_results a JOIN problem_results b USING (problem_id, score_name)
        WHERE a.run_id = ? AND b.run_id = ? AND a.score_name = ?
        ORDER BY a.problem_id""", [run_a, run_b, score_name])


def score_summary(s: ScoreComparison, run_a: str, run_b: str, verdict: str) -> pd.DataFrame:
    """One row: the comparison report's numbers for one score (fractions, not pp)."""
    return pd.DataFrame([{
        "score": s.score, "run_a": run_a, "run_b": run_b, "problems": s.problems,
        "samples": s.samples, "a pass@1": s.pass_a, "b pass@1": s.pass_b,
        "delta": s.delta.estimate, "delta low": s.delta.low, "delta high": s.delta.high,
        "gained": len(s.gained), "lost": len(s.lost), "changed": len(s.changed),
        "test": s.test.name, "p value": s.test.p_value, "p adjusted": s.p_adjusted,
        "mde_pp": s.mde_pp, "question": s.interval_question, "verdict": verdict}])


def compare_scores(con: Connection, run_a: str, run_b: str,
                   score_name: str) -> ScoreComparison | None:
    """The harness's paired comparison of one score from per-problem (n, c) in the store."""
    from apr_eval.harness.regression.paired import Outcome, compare_score

    rows = _frame(con, """
        SELECT a.problem_id, a.n AS na, a.c AS ca, b.n AS nb, b.c AS cb
        FROM problem_results a JOIN problem_results b USING (problem_id, score_name)
        WHERE a.run_id = ? AND b.run_id = ? AND a.score_name = ? AND a.n > 0 AND b.n > 0
        ORDER BY a.problem_id""", [run_a, run_b, score_name])
    if rows.empty:
        return None
    a = {r.problem_id: Outcome(int(r.na), int(r.ca)) for r in rows.itertuples()}
    b = {r.problem_id: Outcome(int(r.nb), int(r.cb)) for r in rows.itertuples()}
    return compare_score(score_name, a, b, order=str, alpha=0.05)


def compare_runs(con: Connection, run_a: str, run_b: str, score_name: str) -> pd.DataFrame:
    """pass@1 of two runs on the problems both ran, and delta = b − a with the comparison
    report's interval and test (exact McNemar at one sample per problem, paired t over
    problems otherwise); one score, so no multiplicity correction."""
    from apr_eval.harness.regression.paired import decide
    from apr_eval.harness.regression.report import verdict_label

    s = compare_scores(con, run_a, run_b, score_name)
    if s is None:
        return pd.DataFrame([{"score": score_name, "run_a": run_a, "run_b": run_b,
                              "problems": 0}])
    s = decide(s, s.test.p_value, alpha=0.05, max_drop_pp=1.0)
    return score_summary(s, run_a, run_b, verdict_label(s))


def flipped_problems(con: Connection, run_a: str, run_b: str, score_name: str, *,
                     pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Problems whose pass fraction differs between the runs (as ``harness.compare`` counts)."""
    if pairs is None:
        pairs = _paired(con, run_a, run_b, score_name)
    flips = pairs[pairs["a"] != pairs["b"]].copy()
    flips["change"] = np.where(flips["b"] > flips["a"], "gained", "lost")
    flips = flips.rename(columns={"a": "a pass@1", "b": "b pass@1"})
    return flips.sort_values(["change", "problem_id"], ignore_index=True)


def run_sources(con: Connection, run_ids: Sequence[str]) -> dict[str, str | None]:
    """Each run's directory as ingested (None for published runs)."""
    marks = ", ".join("?" for _ in run_ids)
    rows = con.execute(f"SELECT run_id, CASE WHEN published THEN NULL ELSE source END "
                       f"FROM runs WHERE run_id IN ({marks})", list(run_ids)).fetchall()
    return {run_id: source for run_id, source in rows}
