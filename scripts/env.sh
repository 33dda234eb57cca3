# Sourced by quickstart.sh and test.sh: Debian packages, a cached virtualenv, the sandbox image.
# Usage: source scripts/env.sh "<extras>" [apt packages...]
apr_extras="$1"; shift
missing=()
for p in debootstrap "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
venv="${APR_EVAL_VENV:-$HOME/.cache/apr-eval/venv-py311}"
[ -x "$venv/bin/python" ] || python3.11 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[$apr_extras]"
export PATH="$venv/bin:$PATH"
apr-eval sandbox build   # a no-op when the image for this runner version exists
