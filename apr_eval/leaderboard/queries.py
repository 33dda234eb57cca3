"""Every leaderboard query: a typed function of a read-only connection returning a DataFrame.

Scores are fractions in [0, 1]. Full-benchmark scores come from ``scores`` (what the run's own
scoring wrote, with its bootstrap interval). Window scores are recomputed from per-problem
results: the mean over the problems released inside the window of per-problem pass@k, with a
95% normal interval over problems (mean ± 1.96·sd/√m, clipped to [0, 1]).

Contamination: a model whose cutoff falls on or after the window start may have seen the
window's problems. It is marked and, unless asked for, left out of the table; it never gets a
rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from apr_eval.leaderboard.migrations import PER_PROBLEM_KS, Connection

LCB = "livecodebench"
FAMILIES: dict[str, tuple[str, ...]] = {
    "HumanEval": ("humaneval", "humaneval+"),
    "MBPP": ("mbpp", "mbpp+"),
}
AVERAGE_OF: tuple[str, ...] = ("humaneval+", "mbpp+", LCB)
Z95 = 1.96
META_COLUMNS = ["quantization", "bits", "parameters", "base_model", "config"]

_META_SQL = """
    r.run_id, m.model_id, m.name AS model, r.published, m.cutoff, m.cutoff_source,
    m.quantization, m.bits, m.parameters, m.base_model, r.comparability_key AS config,
    r.created_at
"""
_DATED_SQL = """
    dated AS (SELECT benchmark, problem_id, min(release_date) AS release_date
              FROM problems WHERE release_date IS NOT NULL GROUP BY ALL)
"""


@dataclass(frozen=True)
class DateWindow:
    start: date
    end: date


def _frame(con: Connection, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
    frame: pd.DataFrame = con.execute(sql, list(params)).df()
    return frame


def _interval(mean: pd.Series, sd: pd.Series, m: pd.Series) -> tuple[pd.Series, pd.Series]:
    half = Z95 * sd / np.sqrt(m)
    return (mean - half).clip(lower=0.0), (mean + half).clip(upper=1.0)


def _dates(values: pd.Series) -> pd.Series:
    """DuckDB DATE columns arrive as timestamps: back to ``datetime.date`` (None if missing)."""
    return pd.Series([None if pd.isna(v) else pd.Timestamp(v).date() for v in values],
                     index=values.index, dtype=object)


def _rank(frame: pd.DataFrame, score: str) -> pd.Series:
    clean = frame[score].where(~frame["contaminated"])
    return clean.rank(ascending=False, method="min").astype("Int64")


# ------------------------------------------------------------------ tables


def family_table(con: Connection, score_names: Sequence[str]) -> pd.DataFrame:
    """One row per run scored on any of ``score_names``: pass@k with intervals, wide."""
    marks = ", ".join("?" for _ in score_names)
    long = _frame(con, f"""
        SELECT {_META_SQL}, s.score_name, s.k, s.pass_at_k, s.ci_low, s.ci_high
        FROM scores s JOIN runs r USING (run_id) JOIN models m USING (model_id)
        WHERE s.score_name IN ({marks})""", score_names)
    index = ["model", "published", *META_COLUMNS, "run_id"]
    columns: list[str] = []
    for name in score_names:
        for k in sorted(long.loc[long["score_name"] == name, "k"].unique()):
            columns += [f"{name} pass@{k}", f"{name} pass@{k} low", f"{name} pass@{k} high"]
    if long.empty:
        return pd.DataFrame(columns=index[:1] + columns + index[1:])
    long["label"] = long["score_name"] + " pass@" + long["k"].astype(str)
    values = long.pivot_table(index="run_id", columns="label", values=["pass_at_k", "ci_low",
                                                                       "ci_high"])
    wide = long.drop_duplicates("run_id").set_index("run_id")[index[:-1]]
    for label in long["label"].unique():
        wide[label] = values[("pass_at_k", label)]
        wide[label + " low"] = values[("ci_low", label)]
        wide[label + " high"] = values[("ci_high", label)]
    key = [c for c in (f"{n} pass@1" for n in reversed(score_names)) if c in wide.columns]
    wide = wide.reset_index()[index[:1] + columns + index[1:]]
    return wide.sort_values([*key, "model", "run_id"],
                            ascending=[False] * len(key) + [True, True],
                            na_position="last", ignore_index=True)


def _window_sums(con: Connection, window: DateWindow, score_name: str) -> pd.DataFrame:
    stats = ", ".join(f"count(pass_at_{k}) AS count_{k}, avg(pass_at_{k}) AS mean_{k}, "
                      f"stddev_samp(pass_at_{k}) AS sd_{k}" for k in PER_PROBLEM_KS)
    return _frame(con, f"""
        WITH {_DATED_SQL},
        inwin AS (
            SELECT p.* FROM problem_results p JOIN runs r USING (run_id)
            JOIN dated d ON d.benchmark = r.benchmark AND d.problem_id = p.problem_id
            WHERE p.score_name = ? AND d.release_date BETWEEN ? AND ?),
        sums AS (SELECT run_id, count(*) AS problems, {stats} FROM inwin GROUP BY run_id)
        SELECT {_META_SQL}, sums.* EXCLUDE (run_id)
        FROM sums JOIN runs r USING (run_id) JOIN models m USING (model_id)
    """, [score_name, window.start, window.end])


def window_table(con: Connection, window: DateWindow, *, show_contaminated: bool = False,
                 score_name: str = LCB) -> pd.DataFrame:
    """Scores recomputed over the problems released in ``window`` (LiveCodeBench by default).

    pass@k appears for a run only when every problem in the window has at least k samples.
    """
    sums = _window_sums(con, window, score_name)
    sums["contaminated"] = sums["cutoff"].notna() & (
        pd.to_datetime(sums["cutoff"]) >= pd.Timestamp(window.start))
    score_columns: list[str] = []
    for k in PER_PROBLEM_KS:
        full = sums[f"count_{k}"] == sums["problems"]
        if k > 1 and not full.any():
            continue
        col = f"pass@{k}"
        sums[col] = sums[f"mean_{k}"].where(full)
        sums[col + " low"], sums[col + " high"] = _interval(sums[col], sums[f"sd_{k}"],
                                                            sums["problems"])
        score_columns += [col, col + " low", col + " high"]
    sums["rank"] = _rank(sums, "pass@1")
    if not show_contaminated:
        sums = sums[~sums["contaminated"]]
    sums["cutoff"] = _dates(sums["cutoff"])
    columns = ["rank", "model", *score_columns, "problems", "contaminated", "cutoff",
               "cutoff_source", "published", *META_COLUMNS, "run_id", "model_id"]
    return sums.sort_values(["rank", "pass@1", "model", "run_id"],
                            ascending=[True, False, True, True], na_position="last",
                            ignore_index=True)[columns]


def _latest_scores(con: Connection, score_names: Sequence[str]) -> pd.DataFrame:
    marks = ", ".join("?" for _ in score_names)
    return _frame(con, f"""
        SELECT r.model_id, s.score_name, s.pass_at_k, s.ci_low, s.ci_high
        FROM scores s JOIN runs r USING (run_id)
        WHERE s.k = 1 AND s.score_name IN ({marks})
        QUALIFY row_number() OVER (PARTITION BY r.model_id, s.score_name
                                   ORDER BY r.created_at DESC NULLS LAST, r.run_id DESC) = 1
    """, score_names)


def average_table(con: Connection, window: DateWindow, *,
                  show_contaminated: bool = False) -> pd.DataFrame:
    """Mean pass@1 of HumanEval+, MBPP+ and LiveCodeBench (in the window), per model.

    Only models with all three. The interval treats the three as independent:
    se = sqrt(sum(se_i²)) / 3, each se_i read back from its 95% interval.
    """
    fixed = _latest_scores(con, AVERAGE_OF[:-1])
    lcb = window_table(con, window, show_contaminated=True)
    lcb = lcb.sort_values("run_id").drop_duplicates("model_id", keep="last")
    lcb_long = lcb.rename(columns={"pass@1": "pass_at_k", "pass@1 low": "ci_low",
                                   "pass@1 high": "ci_high"}).assign(score_name=LCB)
    long = pd.concat([fixed, lcb_long[fixed.columns]], ignore_index=True)
    value = long.pivot_table(index="model_id", columns="score_name", values="pass_at_k")
    se = (long.assign(se=(long["ci_high"] - long["ci_low"]) / (2 * Z95))
          .pivot_table(index="model_id", columns="score_name", values="se"))
    value = value.reindex(columns=list(AVERAGE_OF)).dropna()
    out = value.reset_index().merge(lcb[["model_id", "model", "contaminated", "cutoff",
                                         *META_COLUMNS[:-1]]], on="model_id")
    out["average"] = value[list(AVERAGE_OF)].mean(axis=1).to_numpy()
    half = Z95 * np.sqrt((se.reindex(index=value.index, columns=list(AVERAGE_OF)) ** 2)
                         .sum(axis=1, min_count=len(AVERAGE_OF))) / len(AVERAGE_OF)
    out["average low"] = (out["average"] - half.to_numpy()).clip(lower=0.0)
    out["average high"] = (out["average"] + half.to_numpy()).clip(upper=1.0)
    out["rank"] = _rank(out, "average")
    if not show_contaminated:
        out = out[~out["contaminated"]]
    columns = ["rank", "model", "average", "average low", "average high", *AVERAGE_OF,
               "contaminated", "cutoff", *META_COLUMNS[:-1], "model_id"]
    return out.sort_values(["rank", "average", "model"], ascending=[True, False, True],
                           na_position="last", ignore_index=True)[columns]


# ------------------------------------------------------------------ windows and plots


def date_bounds(con: Connection, benchmark: str = LCB) -> DateWindow | None:
    """First and last release date among the benchmark's problems that have results."""
    row = con.execute(f"""
        WITH {_DATED_SQL}
        SELECT min(d.release_date), max(d.release_date) FROM dated d
        WHERE d.benchmark = ? AND d.problem_id IN (
            SELECT p.problem_id FROM problem_results p JOIN runs r USING (run_id)
            WHERE r.benchmark = ?)""", [benchmark, benchmark]).fetchone()
    return None if row is None or row[0] is None else DateWindow(row[0], row[1])


def month_starts(con: Connection, benchmark: str = LCB) -> list[date]:
    """The first day of every month from the first problem's month to the last's."""
    bounds = date_bounds(con, benchmark)
    if bounds is None:
        return []
    months = pd.date_range(pd.Timestamp(bounds.start).to_period("M").to_timestamp(),
                           bounds.end, freq="MS")
    return [m.date() for m in months]


def window_curve(con: Connection, starts: Sequence[date], end: date, *,
                 show_contaminated: bool = False, score_name: str = LCB) -> pd.DataFrame:
    """pass@1 of every run against the window start (window = [start, end])."""
    frame = _frame(con, f"""
        WITH {_DATED_SQL}, starts AS (SELECT unnest(?::DATE[]) AS window_start),
        sums AS (
            SELECT s.window_start, p.run_id, count(*) AS problems, avg(p.pass_at_1) AS "pass@1"
            FROM starts s JOIN dated d ON d.release_date BETWEEN s.window_start AND ?
            JOIN problem_results p ON p.problem_id = d.problem_id AND p.score_name = ?
            JOIN runs r ON r.run_id = p.run_id AND r.benchmark = d.benchmark
            GROUP BY ALL)
        SELECT sums.window_start, m.name AS model, r.run_id, r.published, m.cutoff,
               m.cutoff IS NOT NULL AND m.cutoff >= sums.window_start AS contaminated,
               sums.problems, sums."pass@1"
        FROM sums JOIN runs r USING (run_id) JOIN models m USING (model_id)
        ORDER BY sums.window_start, model, r.run_id
    """, [list(starts), end, score_name])
    frame["window_start"] = _dates(frame["window_start"])
    frame["cutoff"] = _dates(frame["cutoff"])
    if not show_contaminated:
        frame = frame[~frame["contaminated"]].reset_index(drop=True)
    return frame


def base_models(con: Connection) -> pd.DataFrame:
    """Base models with at least one run of a derived (quantized, merged...) model."""
    return _frame(con, """
        SELECT m.base_model, count(DISTINCT m.model_id) AS models, count(*) AS runs
        FROM models m JOIN runs r USING (model_id)
        WHERE coalesce(m.base_model, '') <> '' GROUP BY ALL ORDER BY m.base_model""")


def quantization_table(con: Connection, base_model: str, score_name: str) -> pd.DataFrame:
    """pass@1 against quantization bits for one base model (the base itself included)."""
    return _frame(con, """
        SELECT m.name AS model, m.quantization, m.bits, r.run_id, s.pass_at_k AS "pass@1",
               s.ci_low AS "pass@1 low", s.ci_high AS "pass@1 high"
        FROM scores s JOIN runs r USING (run_id) JOIN models m USING (model_id)
        WHERE s.k = 1 AND s.score_name = ? AND (m.base_model = ? OR m.name = ?)
        ORDER BY m.bits NULLS LAST, model, r.run_id""", [score_name, base_model, base_model])
