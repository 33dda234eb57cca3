"""Benchmarks: each owns its data, prompts, score names, pass rule and extraction."""
