"""Leaderboard tables that never rank incomparable runs together.

Every run carries what makes its scores comparable: its comparability key (``group``), how
many problems it scored, samples per problem, temperature and prompt preset. A run is
*ranked* only when it is complete and covers its benchmark (not a ``--limit`` / ``--problems``
subset or a partial run), and only against runs of the same group. Repeated evaluations of
the same samples file collapse into one row (``evaluations`` counts them).

Intervals are each score's own labelled 95% interval (``harness.passk``); the window curve
gets Wilson intervals (one sample per problem) or t-intervals over problems, with the
problem count of every point.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from apr_eval.leaderboard.migrations import Connection

SMALL_WINDOW = 100  # fewer problems than this: the window's intervals are wide; say so
# Share of a run's samples whose generation stopped at max_tokens (NULL: no completions stored).
TRUNCATED_SQL = ("(SELECT avg(CASE WHEN c.finish_reason = 'length' THEN 1.0 ELSE 0.0 END) "
                 "FROM completions c WHERE c.run_id = r.run_id)")



def _frame(con: Connection, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
    frame: pd.DataFrame = con.execute(sql, list(params)).df()
    return frame


def run_info(con: Connection) -> pd.DataFrame:
    """One row per run: model, group, settings, how many problems, and whether it may rank."""
    frame = _frame(con, f"""
        WITH counted AS (SELECT run_id, max(problems) AS problems,
                                max(samples) / max(problems) AS per_problem
                         FROM scores GROUP BY run_id)
        SELECT r.run_id, m.model_id, m.name AS model, r.benchmark, r.data_hash,
               r.comparability_key AS "group", r.published, r.status, r.created_at,
               counted.problems,
               coalesce(r.n, round(counted.per_problem))::INTEGER AS "samples/problem",
               r.temperature,
               json_extract_string(r.config, '$.prompt_preset') AS "prompt preset",
               json_extract_string(r.config, '$.extra.spec.limit') AS "limit",
               json_array_length(json_extract(r.config, '$.extra.spec.problems')) AS picked,
               coalesce(json_extract_string(r.config, '$.extra.samples_sha256'),
                        json_extract_string(r.config, '$.extra.samples_file') || ':' ||
                        json_extract_string(r.config, '$.extra.samples'),
                        r.run_id) AS evaluation,
               m.quantization, m.bits, {TRUNCATED_SQL} AS "max_tokens cut"
        FROM runs r JOIN models m USING (model_id) LEFT JOIN counted USING (run_id)""")
    full = frame.groupby(["benchmark", "data_hash"], dropna=False)["problems"].transform("max")
    subset = frame["limit"].notna() | (frame["picked"].fillna(0) > 0) | \
        (frame["problems"].fillna(0) < full.fillna(0))
    frame["status"] = np.where(frame["status"] == "partial", "partial",
                               np.where(subset, "subset", frame["status"]))
    frame["ranked"] = frame["status"].isin(["complete", "published"])
    return frame.drop(columns=["limit", "picked"])


def collapse(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, evaluation, group): the newest; ``evaluations`` counts them."""
    keys = ["model_id", "evaluation", "group"]
    frame = frame.sort_values("created_at", ascending=False, na_position="last", kind="stable")
    counts = frame.groupby(keys, dropna=False)["run_id"].transform("count")
    out = frame.assign(evaluations=counts).drop_duplicates(keys, keep="first")
    return out.reset_index(drop=True)


def _wide_scores(con: Connection, score_names: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    marks = ", ".join("?" for _ in score_names)
    long = _frame(con, f"""SELECT run_id, score_name, k, pass_at_k, ci_low, ci_high, ci_method
                          FROM scores WHERE score_name IN ({marks})""", list(score_names))
    columns: list[str] = []
    if long.empty:
        return pd.DataFrame({"run_id": pd.Series(dtype=str)}), columns
    order = {n: i for i, n in enumerate(score_names)}
    long = long.assign(order=long["score_name"].map(order)).sort_values(["order", "k"])
    wide = pd.DataFrame({"run_id": long["run_id"].unique()})
    for (name, k), rows in long.groupby(["score_name", "k"], sort=False):
        col = f"{name} pass@{k}"
        part = rows.set_index("run_id")
        for suffix, src in (("", "pass_at_k"), (" low", "ci_low"), (" high", "ci_high")):
            wide[col + suffix] = wide["run_id"].map(part[src])
            columns.append(col + suffix)
        if k == 1:
            wide[f"{name} interval"] = wide["run_id"].map(part["ci_method"])
    return wide, columns


def family_table(con: Connection, score_names: Sequence[str], *,
                 include_unranked: bool = False) -> pd.DataFrame:
    """One row per comparable evaluation scored on any of ``score_names``, ranked within its
    group by the last score's pass@1 (HumanEval+ before HumanEval)."""
    wide, columns = _wide_scores(con, score_names)
    info = collapse(run_info(con))
    frame = info.merge(wide, on="run_id", how="inner")
    if not include_unranked:
        frame = frame[frame["ranked"]]
    key = next((f"{n} pass@1" for n in reversed(score_names) if f"{n} pass@1" in frame), None)
    if key is None or frame.empty:
        return frame.assign(rank=pd.Series(dtype="Int64"))
    frame = frame.sort_values(["group", key], ascending=[True, False], kind="stable")
    ranks = frame[frame["ranked"]].groupby("group")[key].rank(method="min", ascending=False)
    frame["rank"] = ranks.reindex(frame.index).astype("Int64")
    groups = frame.groupby("group")["run_id"].transform("count")
    frame = frame.assign(size=groups).sort_values(["size", "group", "rank", key],
                                                  ascending=[False, True, True, False],
                                                  na_position="last", kind="stable")
    shown = ["group", "rank", "model", *columns,
             *[c for c in frame.columns if c.endswith(" interval")], "problems",
             "samples/problem", "temperature", "prompt preset", "max_tokens cut", "status",
             "evaluations",
             "quantization", "bits", "published", "run_id", "model_id"]
    return frame[shown].reset_index(drop=True)


def group_label(rows: pd.DataFrame) -> str:
    """Words for one group's settings (its table's title)."""
    row = rows.iloc[0]
    parts = [f"{int(row['problems'])} problems" if pd.notna(row["problems"]) else "",
             f"{int(row['samples/problem'])} sample(s)/problem"
             if pd.notna(row["samples/problem"]) else "samples/problem unknown",
             f"temperature {row['temperature']:g}" if pd.notna(row["temperature"]) else "",
             f"preset {row['prompt preset']}" if row["prompt preset"] else ""]
    return ", ".join(p for p in parts if p) + f" · settings {row['group']}"


# ------------------------------------------------------------------ window curve


def curve_intervals(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Add "pass@1 low/high" and "interval" to a window curve with ``problems``, ``total``
    (sum of per-problem pass@1) and ``total2`` (sum of squares)."""
    from scipy import stats as sps

    from apr_eval.harness.scoring.passk import wilson

    n = frame["problems"].to_numpy(dtype=float)
    mean = frame["total"].to_numpy(dtype=float) / n
    binary = np.isclose(frame["total"], frame["total2"])  # every value 0 or 1
    var = np.where(n > 1, (frame["total2"] - n * mean * mean) / np.maximum(n - 1, 1), 0.0)
    half = sps.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * np.sqrt(np.maximum(var, 0) / n)
    low, high = np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1)
    for i in np.flatnonzero(binary | (var <= 0)):
        low[i], high[i] = wilson(float(frame["total"].iloc[i]), int(n[i]), level)
    return frame.assign(**{"pass@1 low": low, "pass@1 high": high,
                           "interval": np.where(binary, "wilson", "t-clustered"),
                           "small": n < SMALL_WINDOW})


def cutoff_status(cutoff: date | None, window_start: date) -> str:
    """"clean", "possibly contaminated" or "unknown" (no cutoff declared: never "clean")."""
    if cutoff is None or pd.isna(cutoff):
        return "unknown"
    return "possibly contaminated" if cutoff >= window_start else "clean"
