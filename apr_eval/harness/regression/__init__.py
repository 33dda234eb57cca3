"""Regression: comparing runs, the power planner, nightly jobs and their reports."""
