#!/usr/bin/env bash
# The main job on a fresh machine: install, build the sandbox image, then generate with the
# embedded Qwen2.5-Coder-0.5B-Instruct (llama.cpp) on a HumanEval+ subset, execute in the
# sandbox, score and ingest into DuckDB. APR_EVAL_LIMIT sets the subset size (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh "llamacpp,models,leaderboard"
apr-eval run --model qwen2.5-coder-0.5b --bench humaneval --limit "${APR_EVAL_LIMIT:-10}"
