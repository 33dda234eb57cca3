"""lcb_runner's execution conventions, through the real in-container runner (no Docker)."""

from __future__ import annotations

import pytest
from lcb_support import run_local

from apr_eval.benchmarks.livecodebench import LiveCodeBench
from apr_eval.core import Problem, SandboxLimits, Verdict

STDIN = Problem("livecodebench", "t", "s1", "q", "", starter_code="", metadata={"tests": ()})


def _stdin_problem(tests: list[tuple[str, str]]) -> Problem:
    from apr_eval.benchmarks.lcb_decode import TestCase

    return Problem("livecodebench", "t", "s1", "q", "",
                   metadata={"tests": tuple(TestCase(i, o, "stdin") for i, o in tests)})


def _func_problem(tests: list[tuple[str, str]], name: str = "f") -> Problem:
    from apr_eval.benchmarks.lcb_decode import TestCase

    return Problem("livecodebench", "t", "f1", "q", name, starter_code="class Solution:",
                   metadata={"tests": tuple(TestCase(i, o, "functional") for i, o in tests)})


ADD = [("1 2\n", "3\n"), ("5 7\n", "12\n")]
CASES: list[tuple[str, Problem, str, Verdict]] = [
    ("input", _stdin_problem(ADD), "a, b = map(int, input().split())\nprint(a + b)",
     Verdict.PASSED),
    # ``from sys import stdin`` keeps the load-time stdin whose readline upstream patches
    ("from-sys-stdin", _stdin_problem(ADD),
     "from sys import stdin\na, b = map(int, stdin.readline().split())\nprint(a + b)",
     Verdict.PASSED),
    # ... but ``from sys import stdout`` keeps the real stdout: nothing is captured
    ("from-sys-stdout", _stdin_problem(ADD),
     "from sys import stdout\na, b = map(int, input().split())\nstdout.write(str(a + b))",
     Verdict.FAILED),
    ("exit-ok", _stdin_problem(ADD),
     "a, b = map(int, input().split())\nprint(a + b)\nexit()\nprint('after')", Verdict.PASSED),
    ("quit-disabled", _stdin_problem(ADD), "print(3)\nquit()", Verdict.ERROR),
    ("final-main-guard", _stdin_problem(ADD),
     "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n"
     "if __name__ == '__main__':\n    main()", Verdict.PASSED),
    ("non-final-main-guard", _stdin_problem(ADD),
     "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n"
     "if __name__ == '__main__':\n    main()\nx = 1", Verdict.FAILED),
    ("global-breaks", _stdin_problem(ADD),
     "n = 0\ndef f():\n    global n\n    n += 1\nf()\nprint(n)", Verdict.ERROR),
    ("stdin-buffer", _stdin_problem(ADD),
     "import sys\nprint(sum(map(int, sys.stdin.buffer.read().split())))", Verdict.ERROR),
    ("stdin-class-solution", _stdin_problem(ADD),
     "class Solution:\n    pass\na, b = map(int, input().split())\nprint(a + b)", Verdict.ERROR),
    ("timeout", _stdin_problem(ADD[:1]), "while True:\n    pass", Verdict.TIMEOUT),
    ("syntax", _stdin_problem(ADD), "print(", Verdict.ERROR),
    ("func-tuple", _func_problem([("[1, 2]", "[2, 1]")]),
     "class Solution:\n    def f(self, xs: List[int]):\n        return tuple(reversed(xs))",
     Verdict.PASSED),
    ("func-prelude", _func_problem([("3\n4", "7")]),
     "class Solution:\n    def f(self, a, b):\n        return reduce(add, [a, b])",
     Verdict.PASSED),
    ("func-wrong", _func_problem([("3\n4", "7"), ("1\n1", "2")]),
     "class Solution:\n    def f(self, a, b):\n        return a * b", Verdict.FAILED),
    ("func-raise", _func_problem([("3\n4", "7")]),
     "class Solution:\n    def f(self, a, b):\n        return [][a]", Verdict.ERROR),
    ("func-no-method", _func_problem([("3\n4", "7")]),
     "class Solution:\n    def g(self, a, b):\n        return a + b", Verdict.ERROR),
    ("func-module-level", _func_problem([("3\n4", "7")]),
     "def f(a, b):\n    return a + b", Verdict.PASSED),
]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[Verdict, object]]:
    bench = LiveCodeBench(timeout=1.0)
    checks = [bench.build_check(p, code, 0, SandboxLimits()) for _, p, code, _ in CASES]
    return {name: (e.verdict, e.failing)
            for (name, *_), e in zip(CASES, run_local(checks, workers=2), strict=True)}


@pytest.mark.parametrize(("name", "expected"), [(c[0], c[3]) for c in CASES])
def test_lcb_convention(verdicts: dict[str, tuple[Verdict, object]], name: str,
                        expected: Verdict) -> None:
    assert verdicts[name][0] is expected, verdicts[name]
