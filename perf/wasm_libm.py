"""The WASM guest's C maths library (wasi-libc) against the host's (glibc, the reference's).

    python perf/wasm_libm.py [--n 20000] [--pow-n 200000]

Runs the same seeded arguments through the guest's CPython 3.12 (plain ``python -c``, none of
the runner's replacements) and through this interpreter, and prints, for each ``math``
function, for ``x ** (1/3)``, ``atan2`` and ``abs(complex)`` (the C ``hypot``), how many
results differ in the last bit, and for the last two how often the guest's correctly rounded
replacements in ``cmath.phase``/``polar`` do. For ``math.pow``
with integral exponents it also prints how often ``wasm_guest.pow_rounded`` (what the guest's
runner installs as ``math.pow``) differs from glibc. A fidelity measurement, not a timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from apr_eval.sandbox import wasm_runtime  # noqa: E402
from apr_eval.sandbox.wasm_guest import atan2_rounded, hypot_rounded, pow_rounded  # noqa: E402
from apr_eval.settings import load_settings  # noqa: E402

# Arguments are made without pow (ldexp and uniform are exact on both sides).
GEN = r"""
import math, random
FUNCS = ("exp", "sinh", "cosh", "tanh", "sin", "cos", "tan", "atan", "asin", "acos",
         "log", "log10", "log2", "sqrt", "cbrt")
def args(f, n):
    random.seed(7)
    for _ in range(n):
        if f in ("asin", "acos"):
            yield random.uniform(-1, 1)
        elif f in ("exp", "sinh", "cosh", "tanh"):
            yield random.uniform(-50, 50)
        elif f in ("sin", "cos", "tan", "atan"):
            yield random.uniform(-100, 100)
        else:
            yield math.ldexp(random.uniform(0.5, 1), random.randint(-60, 60))
def value(f, x):
    return repr(x ** (1 / 3) if f == "cbrt" else getattr(math, f)(x))
def pow_args(n):
    random.seed(1)
    for _ in range(n):
        yield math.ldexp(random.uniform(-1, 1), random.randint(-100, 100)), random.randint(-12, 12)
def pow_value(x, k):
    try:
        return repr(math.pow(x, k))
    except OverflowError:
        return "overflow"
PAIRS = ("atan2", "cabs")  # cabs: abs(complex(x, y)), the C hypot (math.hypot is CPython's)
def pairs(n):
    random.seed(3)
    for _ in range(n):
        yield (math.ldexp(random.uniform(-1, 1), random.randint(-40, 40)),
               math.ldexp(random.uniform(-1, 1), random.randint(-40, 40)))
def pair_value(f, y, x):
    return repr(math.atan2(y, x) if f == "atan2" else abs(complex(x, y)))
def table(n, pow_n):
    out = {f: [value(f, x) for x in args(f, n)] for f in FUNCS}
    out.update({f: [pair_value(f, y, x) for y, x in pairs(n)] for f in PAIRS})
    out["pow"] = [pow_value(x, k) for x, k in pow_args(pow_n)]
    return out
"""


def in_guest(n: int, pow_n: int) -> dict[str, list[str]]:
    runtime = wasm_runtime.open_runtime(load_settings().cache_dir)
    with tempfile.TemporaryDirectory() as scratch:
        dump = f"import json; json.dump(table({n}, {pow_n}), open('/tmp/out.json', 'w'))"
        code = wasm_runtime.run_script(runtime, GEN + dump, Path(scratch), "/tmp",
                                       fuel=1 << 50, seconds=1 << 20)
        runtime.close()
        if code:
            raise SystemExit(f"the guest exited {code}")
        result: dict[str, list[str]] = json.loads((Path(scratch) / "out.json").read_text())
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--pow-n", type=int, default=200000)
    args = parser.parse_args()
    guest = in_guest(args.n, args.pow_n)
    host: dict[str, object] = {}
    exec(GEN, host)  # our own generator, run natively for the reference side
    native = host["table"](args.n, args.pow_n)  # type: ignore[operator]
    print(f"{'function':10s} differing from glibc (last bit), of {args.n}")
    for f in host["FUNCS"]:  # type: ignore[attr-defined]
        print(f"{f:10s} {sum(a != b for a, b in zip(guest[f], native[f], strict=True)):6d}")
    replaced = {"atan2": atan2_rounded, "cabs": lambda y, x: hypot_rounded(x, y)}
    for f, ours in replaced.items():
        ys = host["pairs"](args.n)  # type: ignore[operator]
        mine = sum(repr(ours(*p)) != b for p, b in zip(ys, native[f], strict=True))
        plain = sum(a != b for a, b in zip(guest[f], native[f], strict=True))
        print(f"{f:10s} {plain:6d}   (the guest's replacement for cmath.polar/phase: {mine})")
    pairs = list(host["pow_args"](args.pow_n))  # type: ignore[operator]
    plain = sum(a != b for a, b in zip(guest["pow"], native["pow"], strict=True))
    exact = sum(b != "overflow" and repr(pow_rounded(*p)) != b
                for p, b in zip(pairs, native["pow"], strict=True))
    print(f"math.pow, integral exponents, of {args.pow_n}: wasi-libc differs {plain}, "
          f"pow_rounded differs {exact}")


if __name__ == "__main__":
    main()
