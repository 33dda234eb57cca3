"""Every leaderboard query: a typed function of a read-only connection returning a DataFrame.

Scores are fractions in [0, 1]. Full-benchmark scores come from ``scores`` (what the run's own
scoring wrote, with its bootstrap interval). Window scores are recomputed from per-problem
results: the mean over the problems released inside the window of per-problem pass@k, with a
95% normal interval over problems (mean ± 1.96·sd/√m, clipped to [0, 1]).

Contamination: a model whose cutoff falls on or after the window start may have seen the
window's problems. It is marked and, unless asked for, left out of the table; it never gets a
rank. A model with no declared cutoff is shown with cutoff "unknown" and no rank: nothing says
it is clean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from apr_eval.benchmarks.base import leaderboard_layout
from apr_eval.leaderboard.migrations import PER_PROBLEM_KS, Connection
from apr_eval.leaderboard.tables import curve_intervals

# Which tables show which scores: each registered benchmark declares it (benchmarks/base.py).
LAYOUT = leaderboard_layout()
LCB = LAYOUT.dated[0]  # the score recomputed per release-date window
FAMILIES: dict[str, tuple[str, ...]] = LAYOUT.families
AVERAGE_OF: tuple[str, ...] = LAYOUT.average_of
Z95 = 1.96
META_COLUMNS = ["quantization", "bits", "parameters", "base_model", "config"]

_META_SQL = """
    r.run_id, m.model_id, m.name AS model, r.published, m.cutoff, m.cutoff_source,
    m.quantization, m.bits, m.parameters, m.base_model, r.comparability_key AS config,
    r.created_at
"""

@dataclass(frozen=True)
class DateWindow:
    start: date
    end: date


def _frame(con: Connection, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
    frame: pd.DataFrame = con.execute(sql, list(params)).df()
    return frame


def _dates(values: pd.Series) -> pd.Series:
    """DuckDB DATE columns arrive as timestamps: back to ``datetime.date`` (None if missing)."""
    stamps = pd.to_datetime(values)
    dates = pd.Series(stamps.dt.date, index=values.index, dtype=object)
    return dates.where(stamps.notna(), None)


# ------------------------------------------------------------------ tables


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ks(con: Connection, score_name: str) -> list[int]:
    """The k of pass@k some run can have (1, and every k up to the largest sample count)."""
    most = con.execute("SELECT max(n) FROM problem_results WHERE score_name = ?",
                       [score_name]).fetchall()[0][0]
    return [k for k in PER_PROBLEM_KS if k == 1 or (most is not None and most >= k)]


def _window_sql(ks: Sequence[int], score_columns: bool) -> str:
    """Per run: problems in the window, pass@k mean and 95% interval, contamination.

    Parameters: score name, window start, window end, window start (contamination).
    """
    stats = ", ".join(f"count(pass_at_{k}) AS count_{k}, avg(pass_at_{k}) AS mean_{k}, "
                      f"stddev_samp(pass_at_{k}) AS sd_{k}" for k in ks)
    columns = ""
    if score_columns:
        for k in ks:
            mean = f"CASE WHEN count_{k} = problems THEN mean_{k} END"
            half = f"{Z95} * sd_{k} / sqrt(problems)"
            low, high = f"greatest(0.0, {mean} - {half})", f"least(1.0, {mean} + {half})"
            known = f"sd_{k} IS NOT NULL"  # one problem: no interval (greatest() skips NULL)
            columns += (f'{mean} AS "pass@{k}", CASE WHEN {known} THEN {low} END AS '
                        f'"pass@{k} low", CASE WHEN {known} THEN {high} END AS "pass@{k} high", ')
    return f"""
        WITH sums AS (
            SELECT run_id, count(*) AS problems, {stats} FROM problem_results
            WHERE score_name = ? AND release_date BETWEEN ? AND ? GROUP BY run_id)
        SELECT {columns} sums.*, r.run_id, m.model_id, m.name AS model, r.published,
               m.cutoff, m.cutoff_source, m.quantization, m.bits, m.parameters,
               m.base_model, r.comparability_key AS config, r.created_at, r.status,
               coalesce(m.cutoff >= ?, false) AS contaminated
        FROM sums JOIN runs r USING (run_id) JOIN models m USING (model_id)"""


def window_table(con: Connection, window: DateWindow, *, show_contaminated: bool = False,
                 score_name: str = LCB) -> pd.DataFrame:
    """Scores recomputed over the problems released in ``window`` (LiveCodeBench by default).

    pass@k appears for a run only when every problem in the window has at least k samples
    (and as a column only when some run has it).
    """
    ks = _ks(con, score_name)
    score_columns = [f"pass@{k}{s}" for k in ks for s in ("", " low", " high")]
    frame = _frame(con, f"""
        WITH scored AS ({_window_sql(ks, True)})
        SELECT CASE WHEN rankable THEN
                    rank() OVER (PARTITION BY rankable ORDER BY "pass@1" DESC) END AS rank,
               model, {", ".join(_quoted(c) for c in score_columns)}, problems, contaminated,
               cutoff, cutoff_source, published, {", ".join(META_COLUMNS)}, run_id, model_id
        FROM (SELECT *, NOT contaminated AND cutoff IS NOT NULL AND status <> 'partial'
                        AS rankable FROM scored) WHERE ? OR NOT contaminated
        ORDER BY rank NULLS LAST, "pass@1" DESC, model, run_id
    """, [score_name, window.start, window.end, window.start, show_contaminated])
    empty = [c for k in ks[1:] if frame[f"pass@{k}"].isna().all()
             for c in (f"pass@{k}", f"pass@{k} low", f"pass@{k} high")]
    frame = frame.drop(columns=empty)
    frame["rank"] = frame["rank"].astype("Int64")
    frame["cutoff"] = _dates(frame["cutoff"])
    # An undeclared cutoff is unknown, not clean: shown, never ranked.
    frame["cutoff_source"] = frame["cutoff_source"].where(frame["cutoff"].notna(), "unknown")
    return frame


def average_table(con: Connection, window: DateWindow, *,
                  show_contaminated: bool = False) -> pd.DataFrame:
    """Mean pass@1 of HumanEval+, MBPP+ and LiveCodeBench (in the window), per model.

    Only models with all three, each from the model's latest run. The interval treats the
    three as independent: se = sqrt(sum(se_i²)) / 3, each se_i read back from its interval.
    """
    fixed = ", ".join(f"'{name}'" for name in AVERAGE_OF[:-1])
    per = ", ".join(f"max(value) FILTER (WHERE score_name = '{name}') AS {_quoted(name)}"
                    for name in AVERAGE_OF)
    return _frame(con, f"""
        WITH lcb AS ({_window_sql([1], False)}),
        parts AS (
            SELECT model_id, created_at, run_id, '{LCB}' AS score_name, mean_1 AS value,
                   sd_1 / sqrt(problems) AS se FROM lcb
            UNION ALL
            SELECT r.model_id, r.created_at, r.run_id, s.score_name, s.pass_at_k,
                   (s.ci_high - s.ci_low) / (2 * {Z95})
            FROM scores s JOIN runs r USING (run_id)
            WHERE s.k = 1 AND s.score_name IN ({fixed})),
        latest AS (
            SELECT * FROM parts QUALIFY row_number() OVER (PARTITION BY model_id, score_name
                ORDER BY created_at DESC NULLS LAST, run_id DESC) = 1),
        models_avg AS (
            SELECT model_id, avg(value) AS average,
                   {Z95} * sqrt(sum(se * se)) / {len(AVERAGE_OF)} AS half, {per}
            FROM latest GROUP BY model_id HAVING count(*) = {len(AVERAGE_OF)}),
        joined AS (
            SELECT a.*, m.name AS model, coalesce(m.cutoff >= ?, false) AS contaminated,
                   m.cutoff, m.quantization, m.bits, m.parameters, m.base_model
            FROM models_avg a JOIN models m USING (model_id))
        SELECT CASE WHEN NOT contaminated THEN
                    rank() OVER (PARTITION BY contaminated ORDER BY average DESC) END AS rank,
               model, average,
               CASE WHEN half IS NOT NULL THEN greatest(0.0, average - half) END
                   AS "average low",
               CASE WHEN half IS NOT NULL THEN least(1.0, average + half) END
                   AS "average high",
               {", ".join(_quoted(n) for n in AVERAGE_OF)}, contaminated, cutoff,
               quantization, bits, parameters, base_model, model_id
        FROM joined WHERE ? OR NOT contaminated
        ORDER BY rank NULLS LAST, average DESC, model
    """, [LCB, window.start, window.end, window.start, window.start,
          show_contaminated]).astype({"rank": "Int64"}).assign(
              cutoff=lambda f: _dates(f["cutoff"]))


# ------------------------------------------------------------------ windows and plots


def date_bounds(con: Connection, benchmark: str = LCB) -> DateWindow | None:
    """First and last release date among the benchmark's problems that have results."""
    row = con.execute("""
        SELECT min(p.release_date), max(p.release_date)
        FROM problem_results p JOIN runs r USING (run_id) WHERE r.benchmark = ?""",
                      [benchmark]).fetchall()[0]
    return None if row[0] is None else DateWindow(row[0], row[1])


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
    """pass@1 of every run against the window start (window = [start, end]).

    Each problem goes to the latest start at or before its release date (an ASOF join); the
    window from a start then sums its own bucket and every later one, so per-problem results
    are read once whatever the number of starts.
    """
    frame = _frame(con, """
        WITH starts AS (SELECT DISTINCT unnest(?::DATE[]) AS window_start),
        sums AS (SELECT p.run_id, s.window_start, count(*) AS n, sum(p.pass_at_1) AS total,
                        sum(p.pass_at_1 * p.pass_at_1) AS total2
                 FROM problem_results p ASOF JOIN starts s ON p.release_date >= s.window_start
                 WHERE p.score_name = ? AND p.release_date <= ? GROUP BY ALL),
        grid AS (SELECT DISTINCT run_id, s.window_start FROM sums, starts s),
        cum AS (SELECT g.run_id, g.window_start,
                       sum(coalesce(n, 0)) OVER w AS problems,
                       sum(coalesce(total, 0)) OVER w AS total,
                       sum(coalesce(total2, 0)) OVER w AS total2
                FROM grid g LEFT JOIN sums USING (run_id, window_start)
                WINDOW w AS (PARTITION BY g.run_id ORDER BY g.window_start DESC
                             ROWS UNBOUNDED PRECEDING))
        SELECT c.window_start, m.name AS model, r.run_id, r.published, m.cutoff,
               m.cutoff IS NOT NULL AND m.cutoff >= c.window_start AS contaminated,
               c.problems::BIGINT AS problems, c.total / c.problems AS "pass@1",
               c.total, c.total2
        FROM cum c JOIN runs r USING (run_id) JOIN models m USING (model_id)
        WHERE c.problems > 0
        ORDER BY c.window_start, model, r.run_id
    """, [list(starts), score_name, end])
    frame["window_start"] = _dates(frame["window_start"])
    frame["cutoff"] = _dates(frame["cutoff"])
    if not show_contaminated:
        frame = frame[~frame["contaminated"]].reset_index(drop=True)
    if frame.empty:
        return frame.assign(**{"pass@1 low": [], "pass@1 high": [], "interval": [],
                               "small": []}).drop(columns=["total", "total2"])
    return curve_intervals(frame).drop(columns=["total", "total2"])


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
