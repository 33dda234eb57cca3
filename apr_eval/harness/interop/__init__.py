"""Interop with other tools: samples made elsewhere, verdicts in their shapes."""
