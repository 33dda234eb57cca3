"""The sample runs in the reference harness's environment, through the real Docker sandbox.

evalplus 0.3.1 and lcb_runner ``exec`` a *string* from modules without ``from __future__
import annotations``, so a sample's annotations are evaluated: ``List[float]`` without its
import raises ``NameError`` and the sample fails there. The runner module itself has that
future import; these tests fail if the sample inherits it (``compile`` without
``dont_inherit``), or if the runner's own globals reach the sample.
"""

from __future__ import annotations

from pathlib import Path

import evalplus_support as ep
import pytest

from apr_eval.benchmarks.humaneval import HumanEvalPlus
from apr_eval.benchmarks.lcb_decode import TestCase
from apr_eval.benchmarks.livecodebench import LiveCodeBench
from apr_eval.core import Check, Problem, SandboxLimits, Verdict

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_ready")]

HE0_BODY = '''

def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for b in numbers[i + 1:]:
            if abs(a - b) < threshold:
                return True
    return False
'''
HE0_CASES = {
    "with-import": ("from typing import List\n" + HE0_BODY, Verdict.PASSED),
    "missing-import": (HE0_BODY, Verdict.ERROR),
    # a leading future import in the sample itself is the sample's choice: it loads
    "own-future-import": ("from __future__ import annotations\n" + HE0_BODY, Verdict.PASSED),
    # evalplus execs into {}: ``__name__`` is the builtins module's, no runner names
    # numpy is in the image; its scalars equal the Python numbers under evalplus's ==
    "numpy": ("import numpy as np\nfrom typing import List\n" + HE0_BODY.replace(
        "return True", "return np.bool_(True)").replace("return False", "return np.False_"),
              Verdict.PASSED),
    "globals": ("from typing import List\nassert __name__ == 'builtins'\n"
                "assert sorted(k for k in globals() if k != '__builtins__') == ['List']\n"
                + HE0_BODY, Verdict.PASSED),
}


@pytest.fixture(scope="module")
def executor():
    from apr_eval.sandbox.docker_executor import DockerExecutor

    return DockerExecutor()


def _run(executor, checks: list[Check]) -> list[Verdict]:
    out = executor.run(checks, SandboxLimits(workers=1))
    by_index = {e.sample_index: e for e in out}
    return [by_index[i].verdict for i in range(len(checks))]


@pytest.fixture(scope="module")
def he0(tmp_path_factory: pytest.TempPathFactory) -> HumanEvalPlus:
    """HumanEval+ v0.1.10 reduced to HumanEval/0."""
    tmp = tmp_path_factory.mktemp("he0")
    path = ep.dataset_file(tmp, "HumanEvalPlus-v0.1.10", {"HumanEval/0"})
    return HumanEvalPlus(path=str(path), cache_dir=tmp)


def test_humaneval0_missing_typing_import_fails(executor, he0: HumanEvalPlus) -> None:
    (problem,) = he0.load()
    checks = [he0.build_check(problem, code, i, SandboxLimits())
              for i, (code, _) in enumerate(HE0_CASES.values())]
    got = dict(zip(HE0_CASES, _run(executor, checks), strict=True))
    assert got == {name: want for name, (_, want) in HE0_CASES.items()}


def _lcb(name: str, tests: list[tuple[str, str]], kind: str) -> Problem:
    return Problem("livecodebench", "t", name, "q", name if kind == "functional" else "",
                   starter_code="class Solution:" if kind == "functional" else "",
                   metadata={"tests": tuple(TestCase(i, o, kind) for i, o in tests)})


FUNC = _lcb("f", [("[3, 1, 2]", "[1, 2, 3]")], "functional")
STDIN = _lcb("s", [("1 2\n", "3\n"), ("5 7\n", "12\n")], "stdin")
TREE_HINT = "class Solution:\n    def f(self, xs: List[int]) -> Optional[TreeNode]:\n" \
            "        return sorted(xs)\n"
LCB_CASES: list[tuple[str, Problem, str, Verdict]] = [
    ("func-ok", FUNC, "class Solution:\n    def f(self, xs: List[int]) -> List[int]:\n"
     "        return sorted(xs)\n", Verdict.PASSED),
    # LeetCode's TreeNode is not defined by the prelude: lcb_runner fails to load this
    ("func-undefined-hint", FUNC, TREE_HINT, Verdict.ERROR),
    ("func-globals", FUNC, "assert __name__ == 'tmp_sol' and __doc__ == ''\n" + TREE_HINT.replace(
        "Optional[TreeNode]", "list"), Verdict.PASSED),
    ("stdin-ok", STDIN, "def add(a: int, b: int) -> int:\n    return a + b\n"
     "a, b = map(int, input().split())\nprint(add(a, b))", Verdict.PASSED),
    # the def runs inside lcb_runner's wrapped_function at every call: NameError there
    ("stdin-undefined-hint", STDIN, "def add(a: Num, b: Num) -> Num:\n    return a + b\n"
     "a, b = map(int, input().split())\nprint(add(a, b))", Verdict.ERROR),
    # an AtCoder-style program importing numpy (lcb_runner's environment has it)
    ("stdin-numpy", STDIN, "import numpy as np\nprint(int(np.array(input().split(), "
     "dtype=np.int64).sum()))", Verdict.PASSED),
    # exit() is usable under lcb_runner and its SystemExit ends the call, output kept
    ("stdin-exit", STDIN, "import sys\na, b = map(int, input().split())\nprint(a + b)\n"
     "sys.exit(0)\nprint('after')", Verdict.PASSED),
]


def test_lcb_modes_do_not_inherit_future_flags(executor) -> None:
    bench = LiveCodeBench(timeout=2.0)
    checks = [bench.build_check(p, code, i, SandboxLimits())
              for i, (_, p, code, _) in enumerate(LCB_CASES)]
    got = dict(zip([c[0] for c in LCB_CASES], _run(executor, checks), strict=True))
    assert got == {name: want for name, _, _, want in LCB_CASES}


# evalplus compares MBPP+'s set-equality tasks as ``set(out) == set(exp)``, which consumes any
# iterable: a generator passes there (Mbpp/7, find_char_long), and fails where outputs are
# compared with ``==`` (Mbpp/4, heap_queue_largest: an ordered list).
LAZY = "\n    return (x for x in {}(*a))\n"
MBPP_LAZY_CASES = {
    ("Mbpp/7", "list"): ("import re\ndef find_char_long(text):\n"
                          "    return re.findall(r'\\b\\w{4,}\\b', text)\n", Verdict.PASSED),
    ("Mbpp/7", "generator"): ("import re\ndef _f(text):\n    return re.findall(r'\\b\\w{4,}\\b', "
                               "text)\ndef find_char_long(*a):" + LAZY.format("_f"),
                               Verdict.PASSED),
    ("Mbpp/7", "map"): ("import re\ndef _f(text):\n    return re.findall(r'\\b\\w{4,}\\b', "
                         "text)\ndef find_char_long(*a):\n    return map(str, _f(*a))\n",
                         Verdict.PASSED),
    ("Mbpp/7", "not-iterable"): ("def find_char_long(text):\n    return 7\n", Verdict.FAILED),
    ("Mbpp/4", "generator"): ("import heapq\ndef _f(nums, n):\n    return heapq.nlargest(n, nums)"
                               "\ndef heap_queue_largest(*a):" + LAZY.format("_f"),
                               Verdict.FAILED),
}


def test_mbpp_set_equality_tasks_consume_lazy_outputs(executor, tmp_path: Path) -> None:
    from apr_eval.benchmarks.mbpp import MbppPlus

    path = ep.dataset_file(tmp_path, "MbppPlus-v0.2.0", {"Mbpp/4", "Mbpp/7"})
    bench = MbppPlus(path=str(path), cache_dir=tmp_path)
    problems = {p.problem_id: p for p in bench.load()}
    checks = [bench.build_check(problems[tid], code, i, SandboxLimits())
              for i, ((tid, _), (code, _)) in enumerate(MBPP_LAZY_CASES.items())]
    got = dict(zip(MBPP_LAZY_CASES, _run(executor, checks), strict=True))
    assert got == {k: want for k, (_, want) in MBPP_LAZY_CASES.items()}
