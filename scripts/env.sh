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
# pip runs in the background with its log in a file; a line every 15 s says what it is doing
# (building llama-cpp-python from source takes ~6.5 min on 2 cores, the first time only).
# llama.cpp is built from source with -march=native, minus AMX: on VMs that advertise AMX its
# tile kernels die with SIGILL (tilezero in an OpenMP worker; seen on a Sapphire Rapids
# Firecracker guest). A venv already holding an AMX build is rebuilt once (not from pip's cache).
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"  # gcc 12: -mno-amx-tile alone keeps amx-int8
export CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"
if "$venv/bin/python" -c "import sys, llama_cpp; sys.exit(b'AMX' not in llama_cpp.llama_print_system_info())" 2>/dev/null; then
  echo "env.sh: llama-cpp-python was built with AMX kernels; rebuilding it without them"
  "$venv/bin/python" -m pip cache remove 'llama_cpp_python*' >/dev/null 2>&1 || true
  "$venv/bin/python" -m pip uninstall -y -q llama-cpp-python
fi
pip_log="$(mktemp)"
echo "env.sh: installing apr-eval[$apr_extras] into $venv (log: $pip_log)"
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
  -e ".[$apr_extras]" >"$pip_log" 2>&1 &
pip_pid=$!
pip_start=$SECONDS
while kill -0 "$pip_pid" 2>/dev/null; do
  sleep 15
  if kill -0 "$pip_pid" 2>/dev/null; then
    echo "env.sh: pip, $((SECONDS - pip_start))s: $(grep -v '^\s*$' "$pip_log" | tail -n 1 | cut -c1-110)"
  fi
done
if ! wait "$pip_pid"; then
  tail -n 40 "$pip_log"
  echo "env.sh: pip install failed (full log: $pip_log)" >&2
  exit 1
fi
echo "env.sh: installed in $((SECONDS - pip_start))s"
rm -f "$pip_log"
export PATH="$venv/bin:$PATH"
apr-eval sandbox build   # a no-op when the image for this runner version exists
