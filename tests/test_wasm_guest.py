"""The WASM guest's replacements against the reference interpreter itself: this test process is
CPython 3.11 on glibc, the interpreter and C library evalplus's verdicts come from."""

from __future__ import annotations

import math
import random
import sys
from decimal import Decimal, localcontext

import pytest

from apr_eval.sandbox.wasm_guest import (
    _atan,
    _pi,
    atan2_rounded,
    hypot_rounded,
    pow_rounded,
    sum_311,
)

pytestmark = pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="3.11 is the reference")


def _mixed(rng: random.Random) -> list[object]:
    pick = (lambda: rng.randint(-10**20, 10**20), lambda: rng.uniform(-1e6, 1e6),
            lambda: rng.random() * 1e-9, lambda: rng.random() < 0.5)
    return [rng.choice(pick)() for _ in range(rng.randint(0, 9000))]


def test_sum_is_311s_on_ints_floats_bools_ranges_and_iterators() -> None:
    rng = random.Random(11)
    for _ in range(300):
        items = _mixed(rng)
        start = rng.choice((0, 5, 0.25, -3))
        assert repr(sum_311(items, start)) == repr(sum(items, start))
        assert repr(sum_311(iter(items), start)) == repr(sum(iter(items), start))
        r = range(rng.randint(-10**6, 10**6), rng.randint(-10**6, 10**6), rng.choice((1, 3, -2)))
        assert sum_311(r, start) == sum(r, start)
    assert sum_311([[1], [2]], []) == [1, 2]
    with pytest.raises(TypeError, match="join"):
        sum_311(["a"], "")


def test_pow_is_glibcs_for_integral_exponents_nearly_always() -> None:
    rng = random.Random(5)
    differ = 0
    for _ in range(20000):
        x, n = math.ldexp(rng.uniform(-1, 1), rng.randint(-100, 100)), rng.randint(-12, 12)
        try:
            expected = math.pow(x, n)
        except OverflowError:
            with pytest.raises(OverflowError):
                pow_rounded(x, n)
            continue
        differ += pow_rounded(x, n) != expected
    assert differ < 40  # glibc is within 0.52 ulp, not always correctly rounded: ~0.08%
    assert pow_rounded(2.0, 0.5) == math.pow(2.0, 0.5)


def _atan2_exact(y: float, x: float) -> Decimal:
    with localcontext(prec=90):
        angle = _atan(Decimal(abs(y)) / Decimal(abs(x)))
        return (_pi() - angle if x < 0 else angle).copy_sign(Decimal(y))


def test_atan2_is_correctly_rounded_and_glibcs_nearly_always() -> None:
    rng = random.Random(7)
    differ = 0
    for _ in range(5000):
        y, x = (math.ldexp(rng.uniform(-1, 1), rng.randint(-40, 40)) for _ in range(2))
        rounded = atan2_rounded(y, x)
        exact = _atan2_exact(y, x)
        assert abs(Decimal(rounded) - exact) <= abs(Decimal(math.nextafter(rounded, 0)) - exact)
        assert abs(Decimal(rounded) - exact) <= abs(Decimal(math.nextafter(rounded, 9)) - exact)
        differ += rounded != math.atan2(y, x)
    assert differ < 10  # glibc is not correctly rounded everywhere: ~0.015% measured
    assert atan2_rounded(-6.0, -4.0) == math.atan2(-6.0, -4.0) == -2.158798930342464
    for y, x in ((0.0, -1.0), (-0.0, -1.0), (1.0, 0.0), (math.inf, 1.0), (math.nan, 1.0)):
        assert repr(atan2_rounded(y, x)) == repr(math.atan2(y, x))


def test_complex_modulus_is_correctly_rounded_and_glibcs_nearly_always() -> None:
    rng = random.Random(8)
    differ = 0
    for _ in range(5000):
        x, y = (math.ldexp(rng.uniform(-1, 1), rng.randint(-40, 40)) for _ in range(2))
        differ += hypot_rounded(x, y) != abs(complex(x, y))
        assert hypot_rounded(x, y) == math.hypot(x, y)  # CPython's own, correctly rounded
    assert differ < 10  # glibc's hypot: ~0.06% measured
    for x, y in ((0.0, -3.0), (math.inf, 1.0), (math.nan, 2.0), (3.0, 4.0)):
        assert repr(hypot_rounded(x, y)) == repr(abs(complex(x, y)))
