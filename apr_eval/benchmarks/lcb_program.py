"""How lcb_runner turns a generated program into what it executes (testing_util.py).

Mirrored on the host so the sandbox runs the same text upstream runs:

- every program gets the same import prelude (``from math import *``, ``List``, ...,
  ``sys.setrecursionlimit(50000)``);
- functional programs: prelude + program; the method is looked up on ``Solution()`` when the
  text contains ``class Solution``, else at module level;
- stdin programs: a trailing ``if __name__ == '__main__':`` block is unwrapped, imports are
  hoisted to module level and every other statement becomes the body of ``wrapped_function()``,
  which the runner calls once per input (``ast.unparse`` normalises the text, as upstream).
  Consequences kept on purpose: top-level names become locals (``global x`` then fails),
  a non-final ``if __name__ == "__main__":`` block never runs, ``from sys import stdin`` binds
  the real stdin at import time.
"""

from __future__ import annotations

import ast

STDIO_ENTRY = "wrapped_function"

_STAR_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math",
                 "random", "statistics", "itertools", "functools", "operator", "io", "sys",
                 "json", "builtins", "typing")
_PLAIN_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math",
                  "random", "statistics", "itertools", "functools", "operator", "io", "sys",
                  "json")
IMPORT_PRELUDE = ("".join(f"from {m} import *\n" for m in _STAR_MODULES)
                  + "".join(f"import {m}\n" for m in _PLAIN_MODULES)
                  + "sys.setrecursionlimit(50000)\n")


def functional_program(code: str) -> str:
    return IMPORT_PRELUDE + "\n\n" + code


def functional_entry(code: str, func_name: str) -> str:
    """Upstream calls ``Solution().<name>`` whenever the text mentions ``class Solution``."""
    return f"Solution.{func_name}" if "class Solution" in code else func_name


def stdio_entry(program: str) -> str:
    """The same text test applies to stdin programs: one mentioning ``class Solution`` is looked
    up on ``Solution()`` and fails to load upstream (``Solution`` is local to the wrapper)."""
    return functional_entry(program, STDIO_ENTRY)


def unwrap_main_guard(code: str) -> str:
    """Replace a final ``if __name__ == '__main__':`` block by its body (only the final one)."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == \
                "__name__ == '__main__'":
            return ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - upstream keeps the text on any failure
        pass
    return code


def stdio_program(code: str) -> str:
    """The text lcb_runner executes for a stdin program (``wrapped_function`` inside)."""
    code = unwrap_main_guard(code)
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        others = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        fn = ast.FunctionDef(
            name=STDIO_ENTRY,
            args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                               defaults=[]),
            body=others, decorator_list=[], lineno=-1)
        return (IMPORT_PRELUDE + "\n" + ast.unparse(imports)  # type: ignore[arg-type]
                + "\n" + ast.unparse(fn))
    except Exception:  # noqa: BLE001 - upstream runs the text as is when it cannot wrap it
        return code


def fenced_block(output: str) -> str | None:
    """The text between the last two lines that contain a code fence (None: fewer than two),
    as lcb_runner's ``extract_code`` cuts it."""
    lines = output.split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) < 2:
        return None
    return "\n".join(lines[fences[-2] + 1: fences[-1]])


def extract_code(output: str) -> str:
    """lcb_runner's ``extract_code`` (``lcb_runner/utils/extraction_utils.py``) for the styles
    our prompts follow (its ``OpenAIChat`` chat template and its ``*Base`` few-shot layout, which
    take the same branch): the last fenced block, "" when the output has fewer than two fence
    lines. The program ``run`` executes, and the one lcb_runner writes to ``code_list``."""
    block = fenced_block(output)
    return "" if block is None else block


def assemble(completion: str) -> str:
    """A completion made elsewhere: its last fenced block, or, with fewer than two fence lines,
    the completion itself (stripped), taken as code another tool already extracted."""
    block = fenced_block(completion)
    return completion.strip() if block is None else block
