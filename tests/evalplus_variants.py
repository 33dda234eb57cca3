"""Deterministic program variants that probe where two evalplus-style harnesses can diverge.

Each variant class turns a real program (a model sample or a canonical solution: prompt +
code) into another program, by a text or AST transform, or by rebinding the entry point to a
wrapper appended at the end of the module (``__orig = f`` / ``def f(*a, **k): ...``), so the
same transform applies to every task. Both harnesses then judge the very same text.
Nothing here is random: the selection of (class, task) pairs is a hash of their names.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

Transform = Callable[[str, str], "str | None"]  # (program, entry point) -> variant or None

_IMPORT_RE = re.compile(
    r"^[ \t]*(from[ \t]+(typing|math|collections|re|itertools)\b[^\n]*import[^\n]*"
    r"|import[ \t]+(typing|math|collections|re|itertools)\b[^\n]*)$", re.MULTILINE)


def _no_imports(code: str, entry: str) -> str | None:
    out = _IMPORT_RE.sub(lambda m: m.group(0)[: len(m.group(0)) - len(m.group(0).lstrip())]
                         + "pass", code)
    return out if out != code else None


def _prepend(text: str) -> Transform:
    return lambda code, entry: text + code


def _append(text: str) -> Transform:
    return lambda code, entry: code.rstrip("\n") + "\n\n" + text + "\n"


def _wrap(body: str, head: str = "") -> Transform:
    """Rebind ``entry`` to a wrapper; ``body`` sees ``__orig``, ``a`` (args), ``k`` (kwargs)."""

    def make(code: str, entry: str) -> str:
        lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
        return (code.rstrip("\n") + f"\n\n\n{head}__orig = {entry}\n\n\n"
                f"def {entry}(*a, **k):\n{lines}\n")

    return make


def _future_no_imports(code: str, entry: str) -> str | None:
    stripped = _no_imports(code, entry)
    return None if stripped is None else "from __future__ import annotations\n" + stripped


def _recursion(depth: int) -> Transform:
    return _wrap(f"__down({depth})\nreturn __orig(*a, **k)",
                 head="def __down(n):\n    return 0 if n == 0 else 1 + __down(n - 1)\n\n\n")


_PERTURB = ("def __eps(r, e):\n"
            "    if type(r) is float:\n        return r + e\n"
            "    if type(r) in (list, tuple) and r and all(type(x) is float for x in r):\n"
            "        return type(r)(x + e for x in r)\n"
            "    return r\n\n\n")


def _float_eps(eps: float) -> Transform:
    return _wrap(f"return __eps(__orig(*a, **k), {eps!r})", head=_PERTURB)


def _first_statement(stmt: str) -> Transform:
    """Insert ``stmt`` as the first statement of the top-level ``def entry`` (AST-located)."""

    def make(code: str, entry: str) -> str | None:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return None
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry]
        if not defs:
            return None
        first = defs[-1].body[0]
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str) and len(defs[-1].body) > 1):
            first = defs[-1].body[1]  # after the docstring
        lines = code.splitlines()
        line = lines[first.lineno - 1]
        if line[: first.col_offset].strip():  # `def f(): return x` on one line
            return None
        indent = line[: first.col_offset]
        lines.insert(first.lineno - 1, indent + stmt)
        return "\n".join(lines) + "\n"

    return make


# class name -> transform. Classes marked (x) are expected to fail in every harness; they are
# here because *how* they fail differs (a dead process, a swallowed exception, a None builtin).
VARIANTS: dict[str, Transform] = {
    "original": lambda code, entry: code,
    "no-imports": _no_imports,
    "future-annotations": _prepend("from __future__ import annotations\n"),
    "future-no-imports": _future_no_imports,
    "print-args": _wrap("print(*a, **k)\nprint('-' * 200)\nreturn __orig(*a, **k)"),
    "print-stderr": _wrap("import sys\nprint(a, file=sys.stderr)\nreturn __orig(*a, **k)"),
    "exit-import": _append("exit()"),  # (x)
    "sys-exit-import": _append("import sys\nsys.exit(0)"),  # (x)
    "quit-import": _append("quit()"),  # (x)
    "os-exit-import": _append("import os\nos._exit(0)"),  # (x)
    "exit-call": _first_statement("exit()"),  # (x)
    "sys-exit-call": _first_statement("import sys; sys.exit(0)"),  # (x)
    "quit-call": _first_statement("quit()"),  # (x)
    "os-exit-call": _first_statement("import os; os._exit(0)"),  # (x)
    "raise-systemexit": _wrap("r = __orig(*a, **k)\nraise SystemExit(0)"),  # (x)
    "raise-keyboardinterrupt": _wrap("r = __orig(*a, **k)\nraise KeyboardInterrupt"),  # (x)
    "raise-baseexception": _wrap("class Stop(BaseException):\n    pass\n"
                                 "r = __orig(*a, **k)\nraise Stop()"),  # (x)
    "swallow-everything": _wrap("try:\n    return __orig(*a, **k)\n"
                                "except BaseException:\n    return None"),
    "recursion-900": _recursion(900),
    "recursion-960": _recursion(960),
    "recursion-975": _recursion(975),
    "recursion-985": _recursion(985),
    "recursion-995": _recursion(995),
    "generator": _wrap("r = __orig(*a, **k)\n"
                       "return (x for x in r) if type(r) in (list, tuple, set) else r"),
    "list-to-tuple": _wrap("r = __orig(*a, **k)\nreturn tuple(r) if type(r) is list else r"),
    "tuple-to-list": _wrap("r = __orig(*a, **k)\nreturn list(r) if type(r) is tuple else r"),
    "mutate-args-after": _wrap("r = __orig(*a, **k)\nfor x in a:\n"
                               "    if type(x) is list and x:\n        x.append(x[0])\n"
                               "    elif type(x) is dict:\n        x.clear()\nreturn r"),
    "mutate-args-before": _wrap("for x in a:\n    if type(x) is list:\n"
                                "        x.reverse()\nreturn __orig(*a, **k)"),
    "module-state": _wrap("__calls.append(1)\nr = __orig(*a, **k)\n"
                          "return None if len(__calls) > 3 else r", head="__calls = []\n"),
    "memo-state": _wrap("key = repr(a)\nif key not in __memo:\n"
                        "    __memo[key] = __orig(*a, **k)\nreturn __memo[key]",
                        head="__memo = {}\n"),
    "return-none": _wrap("__orig(*a, **k)\nreturn None"),
    "huge-output": _wrap("return [__orig(*a, **k)] * 2_000_000"),
    "float-eps-1e-7": _float_eps(1e-7),
    "float-eps-9e-7": _float_eps(9e-7),
    "float-eps-2e-6": _float_eps(2e-6),
    "stdin-input": _wrap("input()\nreturn __orig(*a, **k)"),
    "stdin-read": _wrap("import sys\nsys.stdin.read()\nreturn __orig(*a, **k)"),
    "random-time": _wrap("import random, time\nrandom.seed(len(repr(a)))\n"
                         "time.sleep(0.001)\nr = __orig(*a, **k)\n"
                         "return r if random.random() < 2 and time.time() > 0 else None"),
    "numpy-scalar": _wrap("import numpy as np\nr = __orig(*a, **k)\n"
                          "if type(r) is int and abs(r) < 2 ** 62:\n    return np.int64(r)\n"
                          "if type(r) is bool:\n    return np.bool_(r)\n"
                          "if type(r) is float:\n    return np.float64(r)\nreturn r"),
    "numpy-import": _prepend("import numpy as np\n_ = np.zeros(3).sum()\n"),
    "open-cwd": _wrap("import os\nos.getcwd()\nreturn __orig(*a, **k)"),  # (x)
}


def burn_per_call(seconds: float) -> Transform:
    """Every call first burns ``seconds`` of CPU (not sleep: both harnesses' limits must see it)."""
    return _wrap(f"import time as __time\n__t0 = __time.process_time()\n"
                 f"while __time.process_time() - __t0 < {seconds!r}:\n    pass\n"
                 "return __orig(*a, **k)")


# Classes made per task from its plus-input count (see timed_variants): the group's calls add
# up to this many CPU-seconds, each call far under its own 1 s floor. evalplus kills a group's
# process after min(60, sum(limits)) + 2 s, so "slow-total" must time out and
# "slow-under-cap" must pass, in both harnesses.
TIMED = {"slow-total": 80.0, "slow-under-cap": 20.0}
TIMED_MIN_INPUTS = 120  # so that a call burns at most 80 / 120 = 0.67 s


def timed_variants(tasks: dict[str, dict[str, object]], every: int) -> Iterator[Program]:
    """The canonical solution of about one task in ``every`` with enough plus inputs, wrapped
    to burn the group's total over its calls."""
    for task_id, t in tasks.items():
        n = len(t.get("plus_input") or [])  # type: ignore[arg-type]
        code = str(t["prompt"]) + str(t["canonical_solution"])
        for cls, total in TIMED.items():
            if n >= TIMED_MIN_INPUTS and selected(cls, task_id, "canonical", every):
                yield Program(task_id, "canonical", cls,
                              burn_per_call(total / n)(code, str(t["entry_point"])) or code)


@dataclass(frozen=True)
class Program:
    task_id: str
    source: str  # "sample" / "canonical"
    cls: str  # variant class
    code: str


def selected(cls: str, task_id: str, source: str, every: int) -> bool:
    """Deterministic 1-in-``every`` choice of (class, task, source)."""
    digest = hashlib.sha256(f"{cls}|{task_id}|{source}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % every == 0


def variants(bases: Iterable[tuple[str, str, str, str]], every: dict[str, int],
             classes: Iterable[str] | None = None) -> Iterator[Program]:
    """``bases``: (task_id, source, entry point, program). ``every[cls]`` (default 1) thins a
    class to about one base in that many; ``every["cls/source"]`` one source of it."""
    names = list(classes or VARIANTS)
    for task_id, source, entry, code in bases:
        for cls in names:
            if not selected(cls, task_id, source,
                            every.get(f"{cls}/{source}", every.get(cls, 1))):
                continue
            out = VARIANTS[cls](code, entry)
            if out is not None:
                yield Program(task_id, source, cls, out)


def bases(tasks: dict[str, dict[str, object]], completions: dict[str, str],
          sources: Collection[str] = ("sample", "canonical")
          ) -> Iterator[tuple[str, str, str, str]]:
    """(task_id, source, entry point, program) for every task of the (reduced) dataset: the
    model's sample (prompt + completion, as evalplus assembles it) and the canonical solution."""
    for task_id, t in tasks.items():
        prompt, entry = str(t["prompt"]), str(t["entry_point"])
        if "sample" in sources and task_id in completions:
            yield task_id, "sample", entry, prompt + completions[task_id]
        if "canonical" in sources:
            yield task_id, "canonical", entry, prompt + str(t["canonical_solution"])
