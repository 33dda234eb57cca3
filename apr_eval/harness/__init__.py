"""Generation, execution, scoring and comparison of runs (see docs/layout.md)."""
