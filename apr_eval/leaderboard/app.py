"""The Streamlit leaderboard. Started by ``apr-eval leaderboard [--db PATH] [--port N]``.

Everything shown comes from :mod:`queries` / :mod:`run_queries` (tested without Streamlit);
this file only lays the results out. Query results are cached per database file version, so
while an ingest writes a new version the page keeps showing the last one, with a notice.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from apr_eval.errors import AprEvalError
from apr_eval.leaderboard import comparison, store, tables
from apr_eval.leaderboard import queries as q
from apr_eval.leaderboard import run_queries as rq
from apr_eval.leaderboard.published import CUTOFF_SOURCE
from apr_eval.settings import load_settings

QUERIES: dict[str, Any] = {
    "family": lambda con, names, unranked: tables.family_table(con, names,
                                                               include_unranked=unranked),
    "window": lambda con, s, e, show: q.window_table(con, q.DateWindow(s, e),
                                                     show_contaminated=show),
    "average": lambda con, s, e, show: q.average_table(con, q.DateWindow(s, e),
                                                       show_contaminated=show),
    "months": q.month_starts,
    "curve": lambda con, starts, e, show: q.window_curve(con, starts, e, show_contaminated=show),
    "base_models": q.base_models,
    "quantization": q.quantization_table,
    "runs": rq.runs_table,
    "score_names": rq.score_names,
    "outcomes": rq.problem_outcomes,
    "samples": rq.problem_samples,
    "compare": comparison.compare,
}
ROW_PX = 35
MIN_CURVE_PROBLEMS = 20
PERCENT_SUFFIXES = ("pass@1", "pass@5", "pass@10", "pass@100", "low", "high", "average",
                    *q.AVERAGE_OF, "max_tokens cut")


def db_path() -> Path:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db", type=Path)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.db if args.db is not None else load_settings().db_path


@st.cache_resource
def _reader(db: str) -> store.Reader:
    """One held connection per database, reopened when a writer replaces the file."""
    return store.Reader(Path(db))


@st.cache_data(show_spinner=False, max_entries=512)
def _run_query(db: str, version: tuple[int, int, int], name: str, args: tuple) -> Any:
    return _reader(db).run(QUERIES[name], *args)


def fetch(db: Path, name: str, *args: Any) -> Any:
    """A query through the cache; if the file is busy, the last result with a notice."""
    last = st.session_state.setdefault("last_results", {})
    try:
        result = _run_query(str(db), store.signature(db), name, args)
    except store.StoreBusyError:
        if (name, args) not in last:
            raise
        st.session_state["stale"] = True
        return last[(name, args)]
    last[(name, args)] = result
    return result


def percent(frame: pd.DataFrame) -> pd.DataFrame:
    """Fractions -> percentages for display (sorting stays numeric)."""
    out = frame.copy()
    for col in out.columns:
        if str(col).endswith(PERCENT_SUFFIXES) and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col] * 100.0
    return out


def blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty cells read empty, not "None" / "nan"."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: "" if v is None or v is pd.NA
                                    or (isinstance(v, float) and math.isnan(v)) else v)
    return out


def with_ci_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Each "X low" / "X high" pair (percentages) -> one narrow "X 95% CI" text column."""
    out = frame.copy()
    for col in [c for c in out.columns if f"{c} low" in out.columns and f"{c} high" in out]:
        low, high = out.pop(f"{col} low"), out.pop(f"{col} high")
        text = [f"[{lo:.1f}, {hi:.1f}]" if pd.notna(lo) and pd.notna(hi) else ""
                for lo, hi in zip(low, high, strict=True)]
        out.insert(out.columns.get_loc(col) + 1, f"{col} 95% CI", text)
    return out


def table(frame: pd.DataFrame, key: str,
          hide: tuple[str, ...] = ("model_id", "group", "config")) -> None:
    shown = blank(with_ci_text(percent(frame.drop(columns=[c for c in hide
                                                            if c in frame.columns]))))
    config: dict[str, Any] = {c: st.column_config.NumberColumn(c, format="%.1f")
                              for c in shown.columns if str(c).endswith(PERCENT_SUFFIXES)}
    config["contaminated"] = st.column_config.CheckboxColumn("contaminated ⚠")
    config["model"] = st.column_config.TextColumn("model", width="medium")
    config["run_id"] = st.column_config.TextColumn("run_id", width="small")
    # Tall enough for every row (up to a screenful): a leaderboard is read top to bottom.
    height = min(ROW_PX * (len(shown) + 1) + 3, 900)
    st.dataframe(shown, hide_index=True, column_config=config, key=key, height=height,
                 use_container_width=True)


# ------------------------------------------------------------------ sidebar


def window_controls(db: Path) -> tuple[date, date, bool] | None:
    months: list[date] = fetch(db, "months")
    if not months:
        st.sidebar.info("No dated problems yet: import LiveCodeBench's leaderboard or ingest a "
                        "LiveCodeBench run to get the contamination window.")
        return None
    options = [*months, _next_month(months[-1])]
    start, end = st.sidebar.select_slider(
        "Problem release window", options=options, value=(options[0], options[-1]),
        format_func=lambda d: d.strftime("%Y-%m"), key="window")
    show = st.sidebar.toggle("Show contaminated models", value=False, key="show_contaminated")
    st.sidebar.caption(
        "A model is **contaminated** when its training cutoff is on or after the window "
        f"start. Published LiveCodeBench models have no declared cutoff: their "
        f"*{CUTOFF_SOURCE}* stands in for it.")
    return start, end - timedelta(days=1), show


def _next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


# ------------------------------------------------------------------ tabs


def leaderboard_tab(db: Path, window: tuple[date, date, bool] | None) -> None:
    if window is not None:
        start, end, show = window
        lcb = fetch(db, "window", start, end, show)
        everyone = fetch(db, "window", start, end, True)
        hidden = int(everyone["contaminated"].sum()) if not show else 0
        st.subheader(q.LAYOUT.dated_titles[0])
        top = lcb.dropna(subset=["rank"]).head(1)
        leader = (f"top: **{top['model'].iloc[0]}** {top['pass@1'].iloc[0]:.1%}"
                  if len(top) else "no ranked model")
        st.markdown(f"Window **{start} → {end}**: {int(everyone['problems'].max() or 0)} "
                    f"problems, {len(lcb)} models shown, {hidden} contaminated hidden; {leader}",
                    help="Scores recomputed over problems released in the window; 95% "
                         "intervals are normal approximations over problems.")
        table(lcb, "lcb")
    unranked = st.sidebar.toggle("Show partial and subset runs", value=False,
                                 key="show_unranked",
                                 help="Runs cut short or limited to some problems are never "
                                      "ranked; by default they are not shown either.")
    for family, names in q.FAMILIES.items():
        st.subheader(" / ".join(n.replace(names[0], family) for n in names))
        frame = fetch(db, "family", names, unranked)
        if frame.empty:
            st.caption(f"No {family} runs yet.")
            continue
        st.caption("Runs are ranked only against runs with the same settings (one table per "
                   "settings group); intervals are 95% (wilson at one sample per problem, "
                   "t over problems otherwise).")
        for i, (_, rows) in enumerate(frame.groupby("group", sort=False)):
            st.markdown(f"**{tables.group_label(rows)}**")
            table(rows, f"{family}-{i}")
    if window is not None:
        st.subheader("Average (HumanEval+, MBPP+, LiveCodeBench in the window)")
        avg = fetch(db, "average", window[0], window[1], window[2])
        if avg.empty:
            st.caption("No model has all three scores yet.")
        else:
            table(avg, "average")


def plots_tab(db: Path, window: tuple[date, date, bool] | None) -> None:
    if window is not None:
        st.subheader("LiveCodeBench pass@1 against window start")
        curve = fetch(db, "curve", tuple(fetch(db, "months")), window[1], window[2])
        curve = curve[curve["problems"] >= MIN_CURVE_PROBLEMS]
        curve = percent(curve).assign(window_start=lambda f: pd.to_datetime(f["window_start"]))
        st.caption(f"Each point: the window from that month to {window[1]}, with its 95% "
                   "interval (error bars); below, how many problems each window holds "
                   "(dashed: 100); points with fewer than "
                   f"{MIN_CURVE_PROBLEMS} problems are left out.")
        if curve["small"].any():
            st.warning(f"Some points rest on fewer than {tables.SMALL_WINDOW} problems: their "
                       "intervals are wide, and differences between them are mostly noise.")
        base = alt.Chart(curve).encode(
            x=alt.X("window_start:T", title="window start"),
            color="model:N",
            tooltip=["model", "window_start", "pass@1", "pass@1 low", "pass@1 high",
                     "problems", "interval"])
        line = base.mark_line(point=True).encode(y=alt.Y("pass@1:Q", title="pass@1 (%)"))
        bars = base.mark_errorbar(ticks=True).encode(
            y=alt.Y("pass@1 low:Q", title="pass@1 (%)"), y2="pass@1 high:Q")
        counts = alt.Chart(curve).mark_bar(opacity=0.6).encode(
            x=alt.X("window_start:T", title="window start"),
            y=alt.Y("max(problems):Q", title="problems in window"),
            tooltip=["window_start", "max(problems)"])
        rule = alt.Chart(pd.DataFrame({"y": [tables.SMALL_WINDOW]})).mark_rule(
            strokeDash=[4, 4], color="red").encode(y="y:Q")
        st.altair_chart(line + bars, use_container_width=True)
        # The height on the layer: on one of its charts alone it is lost and the bars collapse
        st.altair_chart((counts + rule).properties(height=140), use_container_width=True)
    st.subheader("Score against quantization bits")
    bases = fetch(db, "base_models")
    if bases.empty:
        st.caption("No runs of quantized models with a base model recorded yet.")
        return
    base = st.selectbox("Base model", bases["base_model"], key="base_model")
    score = st.selectbox("Score", [*(n for names in q.FAMILIES.values()
                                     for n in reversed(names)), q.LCB],
                         key="quant_score")
    quant = percent(fetch(db, "quantization", base, score))
    if quant.empty:
        st.caption(f"No {score} scores for {base}.")
        return
    points = alt.Chart(quant).encode(x=alt.X("bits:Q", title="bits per weight"),
                                     y=alt.Y("pass@1:Q", title=f"{score} pass@1 (%)"),
                                     tooltip=["model", "quantization", "bits", "pass@1"])
    bars = points.mark_errorbar().encode(y="pass@1 low:Q", y2="pass@1 high:Q")
    st.altair_chart(points.mark_line(point=True) + bars, use_container_width=True)


def drilldown_tab(db: Path) -> None:
    runs = fetch(db, "runs")
    runs = runs[~runs["published"]]
    if runs.empty:
        st.caption("No runs of your own yet (published runs have no samples to show).")
        return
    run_id = st.selectbox("Run", runs["run_id"], key="drill_run")
    names = fetch(db, "score_names", (run_id,))
    score = st.selectbox("Score", names, key="drill_score")
    outcomes = fetch(db, "outcomes", run_id, score)
    st.dataframe(percent(outcomes), hide_index=True, use_container_width=True)
    problem = st.selectbox("Problem", outcomes["problem_id"], key="drill_problem")
    samples = fetch(db, "samples", run_id, problem)
    for i, s in enumerate(samples.to_dict("records")):
        title = f"sample {s['sample_index']}: {s['verdict']}"
        if s["groups"]:
            title += f" ({s['groups']})"
        with st.expander(title, expanded=i < 3):
            if s["failing_test"]:
                st.markdown("**Failing test**")
                st.code(s["failing_test"], language="text")
            if s["error_tail"]:
                st.markdown("**Error tail**")
                st.code(s["error_tail"], language="text")
            st.markdown(f"**Code** ({s['duration_s']:.2f} s, finish: {s['finish_reason']})")
            st.code(s["code"], language="python")


def compare_tab(db: Path) -> None:
    runs = fetch(db, "runs")
    if len(runs) < 2:
        st.caption("Comparison needs two runs.")
        return
    left, right = st.columns(2)
    a = left.selectbox("Run A", list(runs["run_id"]), index=0, key="cmp_a")
    row = runs[runs["run_id"] == a].iloc[0]
    # Runs of the same benchmark, those with A's exact settings (comparable) first.
    same = runs[(runs["benchmark"] == row["benchmark"]) & (runs["run_id"] != a)]
    same = same.assign(other=same["config"] != row["config"]).sort_values("other", kind="stable")
    if same.empty:
        st.caption(f"No other {row['benchmark']} run to compare {a} with.")
        return
    b = right.selectbox("Run B", list(same["run_id"]), index=0, key="cmp_b")
    if same.loc[same["run_id"] == b, "other"].iloc[0]:
        st.warning("These runs used different settings (prompt, sampling, data or sandbox): "
                   "the delta mixes model and setup.")
    names = fetch(db, "score_names", (a, b))
    if not names:
        st.caption("These two runs share no score.")
        return
    score = st.selectbox("Score", names, key="cmp_score")
    result = fetch(db, "compare", a, b, score)
    summary = result.summary.iloc[0]
    if not summary.get("problems"):
        st.caption("These two runs share no scored problem.")
        return
    cols = st.columns(4)
    cols[0].metric("A pass@1", f"{summary['a pass@1']:.1%}")
    cols[1].metric("B pass@1", f"{summary['b pass@1']:.1%}")
    cols[2].metric("B − A", f"{summary['delta']:+.1%}", help=summary["question"])
    cols[3].metric("detectable drop (80% power)", f"{summary['mde_pp']:.1f} pp")
    st.markdown(f"95% interval of the delta: **[{summary['delta low']:+.1%}, "
                f"{summary['delta high']:+.1%}]** ({summary['question']}) over "
                f"{summary['problems']} shared problems, {summary['samples']:.3g} samples per "
                f"problem; {summary['test']} p = {summary['p value']:.3g}: "
                f"**{summary['verdict']}**. Real flips: {summary['lost']} lost, "
                f"{summary['gained']} gained ({summary['changed']} problems moved).")
    st.caption(f"Computed from the {result.source}." + "".join(f" {n}." for n in result.notes))
    st.dataframe(percent(result.flips), hide_index=True, use_container_width=True)


def main() -> None:
    st.set_page_config(page_title="apr-eval leaderboard", layout="wide")
    st.title("apr-eval leaderboard")
    db = db_path()
    if not db.exists():
        st.error(store.missing_message(db))
        st.stop()
    st.caption(f"Database: `{db}`")
    st.session_state["stale"] = False
    try:
        window = window_controls(db)
        tabs = st.tabs(["Leaderboard", "Plots", "Drill-down", "Compare"])
        with tabs[0]:
            leaderboard_tab(db, window)
        with tabs[1]:
            plots_tab(db, window)
        with tabs[2]:
            drilldown_tab(db)
        with tabs[3]:
            compare_tab(db)
    except AprEvalError as exc:
        st.error(str(exc))
        st.stop()
    if st.session_state["stale"] or store.writer_active(db):
        st.info("An ingest is writing to the database: showing the last complete version. "
                "Reload when it finishes to see the new runs.")


main()
