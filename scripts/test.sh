#!/usr/bin/env bash
# The test command (README "Set up and run"; .ci/run calls it): installs what the tests need,
# then lint, type-check and the whole pytest suite against the real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh "dev,leaderboard,llamacpp,llamacpp-server,models,ray,wasm" chromium chromium-driver
export APR_EVAL_REQUIRE_DOCKER=1   # Docker tests fail (not skip) if the engine is missing
ruff check .
mypy
lint-imports
pytest -q -ra --durations=15 "$@"
