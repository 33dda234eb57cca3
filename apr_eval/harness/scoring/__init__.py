"""Scoring: pass@k, intervals and tests, release-date windows."""
