"""The results store (DuckDB, derived from run directories) and the Streamlit leaderboard.

``store`` opens the database (one writer that replaces the file atomically, read-only readers
that never wait), ``migrations`` evolves its schema (append-only, named), ``ingest`` turns run
directories into rows (idempotent by run id, one transaction per write), ``published`` imports
LiveCodeBench's own per-problem leaderboard, ``queries`` / ``run_queries`` hold every
leaderboard query (typed functions returning DataFrames), ``comparison`` pairs two runs, and
``app`` is the Streamlit page.

    apr-eval ingest results/                 # every run directory under results/
    apr-eval import leaderboard_performances_generation_2025-04-22.json
    apr-eval leaderboard --port 8501         # streamlit, headless

Problem release dates (for the contamination window) come from, in order: the run manifest's
``extra["problem_dates"]`` (``{problem id: "YYYY-MM-DD"}`` or ``{problem id: {"release_date",
"difficulty", "platform"}}``), the benchmark's own ``Problem.release_date`` when it can be
loaded here, and ``apr-eval import`` (the published leaderboard, or ``--problems`` JSONL).
"""
