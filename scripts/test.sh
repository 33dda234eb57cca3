#!/usr/bin/env bash
# The test command (README "Run the tests"; .ci/run calls it).
# Installs what the tests need -- Debian packages, a cached virtualenv, the sandbox image --
# then lint, type-check and the whole pytest suite against the real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(debootstrap chromium chromium-driver)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

venv="${APR_EVAL_VENV:-$HOME/.cache/apr-eval/venv-py311}"
[ -x "$venv/bin/python" ] || python3.11 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev,leaderboard,llamacpp,models]"
export PATH="$venv/bin:$PATH"

apr-eval sandbox build              # no-op when the image for this runner exists
export APR_EVAL_REQUIRE_DOCKER=1    # Docker tests fail (not skip) if the engine is missing

ruff check .
mypy
pytest -q -ra --durations=15 "$@"
