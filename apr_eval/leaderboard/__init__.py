"""The results store (DuckDB, derived from run directories) and the Streamlit leaderboard.

``store`` opens the database (one writer, read-only readers), ``migrations`` evolves its schema,
``ingest`` turns run directories into rows, ``published`` imports LiveCodeBench's own
leaderboard, ``queries`` holds every leaderboard query, and ``app`` is the Streamlit page.
"""
