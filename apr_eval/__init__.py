"""apr-eval: code-LLM evaluation harness with a Docker sandbox and host-side verdicts."""

__version__ = "0.1.0"
