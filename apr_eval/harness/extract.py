"""From a model's raw text to the program the sandbox runs.

The raw text is always kept (``Completion.raw``); this only computes ``Completion.code``.
Tolerates reasoning blocks (``<think>...</think>``), markdown fences, prose around the code,
and a pre-started assistant turn ending in an open fence. The last step is evalplus's own
sanitizer (``evalplus.sanitize.sanitize``), as ``evalplus.codegen`` applies it.
"""

from __future__ import annotations

import ast
import re

from apr_eval.core import Prompt, PromptStyle
from apr_eval.harness.prompts import prefill_of

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[ \t]*$", re.MULTILINE)
# evalplus's code_extract is cubic in the line count; above this we pre-trim ourselves.
_MAX_SANITIZE_LINES = 400


def strip_reasoning(text: str) -> str:
    """Drop ``<think>`` blocks; an unclosed one swallows the rest; a lone ``</think>`` (the
    opening tag was in the prompt) drops everything before it."""
    text = _THINK_BLOCK.sub("", text)
    lower = text.lower()
    if "</think>" in lower:
        text = text[lower.rindex("</think>") + len("</think>"):]
        lower = text.lower()
    if "<think>" in lower:
        text = text[: lower.index("<think>")]
    return text


def fenced_blocks(text: str) -> list[str]:
    """Bodies of markdown code blocks, in order; an unterminated last block counts."""
    blocks: list[str] = []
    marks = list(_FENCE.finditer(text))
    i = 0
    while i < len(marks):
        lang = marks[i].group(1).lower()
        start = marks[i].end() + 1
        end_mark = marks[i + 1] if i + 1 < len(marks) else None
        body = text[start: end_mark.start() if end_mark else len(text)]
        if lang in ("", "python", "py", "python3"):
            blocks.append(body)
        i += 2
    return blocks


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
               and n.name == name for n in ast.walk(tree))


def pick_block(blocks: list[str], entry_point: str) -> str:
    """The first block defining the entry point, else the longest."""
    for block in blocks:
        if entry_point and _defines(block, entry_point):
            return block
    return max(blocks, key=len) if blocks else ""


def sanitize(code: str, entry_point: str) -> str:
    """evalplus's sanitizer: imports + definitions the entry point reaches, longest valid span."""
    from evalplus.sanitize import sanitize as evalplus_sanitize  # tree-sitter: keep lazy

    if len(code.splitlines()) > _MAX_SANITIZE_LINES and not _parses(code):
        code = "\n".join(code.splitlines()[:_MAX_SANITIZE_LINES])
    return str(evalplus_sanitize(code, entrypoint=entry_point or None))


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def program_text(raw: str, prompt: Prompt, entry_point: str) -> str:
    """The unsanitized program: prompt + continuation, or the code block of a chat answer."""
    text = strip_reasoning(raw)
    if prompt.style is PromptStyle.COMPLETION:
        # A base model sometimes closes a fence it imagined; cut there.
        cut = _FENCE.search(text)
        return prompt.prefix + (text[: cut.start()] if cut else text)
    prefill = prefill_of(prompt)
    if prefill and _FENCE.search(prefill.rstrip("\n").rsplit("\n", 1)[-1]):
        text = prefill.rstrip("\n").rsplit("\n", 1)[-1] + "\n" + text  # reopen the fence
    blocks = fenced_blocks(text)
    return pick_block(blocks, entry_point) if blocks else text


def extract_code(raw: str, prompt: Prompt, entry_point: str) -> str:
    """What the sandbox runs for one completion (evalplus's sanitized solution)."""
    program = program_text(raw, prompt, entry_point)
    if not program.strip():
        return ""
    return sanitize(program, entry_point)
