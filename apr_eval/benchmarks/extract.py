"""From a model's raw text to the program the sandbox runs.

The raw text is always kept (``Completion.raw``); this only computes ``Completion.code``.
Tolerates reasoning blocks (``<think>...</think>``, removed first; one that never closes
leaves an empty program), markdown fences, prose around the code, and a pre-started assistant
turn ending in an open fence. A preset may name extra steps (``Prompt.extract``). The last
step is evalplus's own sanitizer (``evalplus.sanitize.sanitize``), as ``evalplus.codegen``
applies it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from apr_eval.benchmarks.prompts import prefill_of
from apr_eval.core import Prompt, PromptStyle

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
# About 2 s of ast.parse on this machine; only prose-heavy outputs ever reach it.
_PARSE_BUDGET_LINES = 300_000
_PYTHON = ("", "python", "py", "python3")
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[ \t]*$", re.MULTILINE)


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


def _opens_reasoning(text: str) -> bool:
    """Whether ``text`` ends inside a ``<think>`` block (opened, never closed)."""
    lower = _THINK_BLOCK.sub("", text).lower()
    return lower.rfind("<think>") > lower.rfind("</think>")


def prompt_opens_reasoning(prompt: Prompt) -> bool:
    """A prompt whose own text (or pre-started answer) opens a ``<think>`` block: the model's
    raw text starts inside it."""
    return _opens_reasoning(prompt.text if prompt.style is PromptStyle.COMPLETION
                            else prefill_of(prompt))


def reasoning_unclosed(raw: str, opened: bool = False) -> bool:
    """The policy for reasoning output: a ``<think>`` block that never closes (cut by
    max_tokens, usually) leaves no program at all, never the thinking text run as code.
    ``opened``: the prompt itself opened the block."""
    return _opens_reasoning(("<think>" if opened else "") + raw)


def fenced_blocks(text: str) -> list[str]:
    """Bodies of python (or untagged) markdown code blocks, in order. A fence with a language
    tag always opens a block (a model repeating the opening fence); an unterminated last
    block counts."""
    blocks: list[str] = []
    open_at, open_lang = -1, ""
    for mark in _FENCE.finditer(text):
        lang = mark.group(1).lower()
        if open_at >= 0 and not lang:
            if open_lang in _PYTHON:
                blocks.append(text[open_at: mark.start()])
            open_at = -1
            continue
        open_at, open_lang = min(mark.end() + 1, len(text)), lang
    if open_at >= 0 and open_lang in _PYTHON:
        blocks.append(text[open_at:])
    return [b for b in blocks if b.strip()]


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
               and n.name == name for n in ast.walk(tree))


def pick_block(blocks: list[str], entry_point: str, last: bool = False) -> str:
    """The first block defining the entry point, else the longest. ``last``: the last block
    defining it, else the last block (an answer that reasons first and codes last)."""
    for block in (reversed(blocks) if last else blocks):
        if entry_point and _defines(block, entry_point):
            return block
    if last:
        return blocks[-1] if blocks else ""
    return max(blocks, key=len) if blocks else ""


def longest_valid_span(text: str) -> str:
    """evalplus's ``code_extract`` (the longest run of lines that parses, counted in non-blank
    lines, first one on ties), found without its cubic scan: longest candidates first.
    Text where almost nothing parses (long prose) stops after a budget of parsed lines with
    the best span found so far, where evalplus would take minutes."""
    lines = text.split("\n")
    weight = [0]
    for line in lines:
        weight.append(weight[-1] + bool(line.strip()))
    best, span, budget = 0, (0, 0), _PARSE_BUDGET_LINES
    for i in range(len(lines)):
        if weight[-1] - weight[i] <= best:
            break
        for j in range(len(lines) - 1, i, -1):
            count = weight[j + 1] - weight[i]
            if count <= best:
                break
            budget -= j + 1 - i
            if budget < 0:
                return "\n".join(lines[span[0]: span[1] + 1])
            if _parses("\n".join(lines[i: j + 1])):
                # evalplus keeps the shortest j reaching this count (no trailing blanks)
                end = j
                while end > i + 1 and not lines[end].strip():
                    end -= 1
                best, span = count, (i, end)
                break
    return "\n".join(lines[span[0]: span[1] + 1])


def sanitize(code: str, entry_point: str) -> str:
    """evalplus's ``sanitize``: the imports and the definitions the entry point reaches, taken
    from the longest valid span. Same output, but linear in practice instead of cubic."""
    from evalplus import sanitize as ev  # tree-sitter: keep lazy

    span = longest_valid_span(code)
    data = span.encode("utf8")
    root = ev.Parser(ev.Language(ev.tree_sitter_python.language())).parse(data).root_node
    imports, definitions, names = [], [], set()
    for child in root.children:
        name, node = _definition(child, ev)
        if child.type in ev.IMPORT_TYPE:
            imports.append(child)
        elif node is not None and name not in names:
            definitions.append((name, node))
            names.add(name)
    if entry_point:
        reachable = ev.get_function_dependency(entry_point, ev.get_deps(definitions))
        definitions = [(n, d) for n, d in definitions if n in reachable]
    out = b"".join(data[n.start_byte: n.end_byte] + b"\n"
                   for n in imports + [d for _, d in definitions])
    return out[:-1].decode("utf8").strip() or span


def _definition(child: Any, ev: Any) -> tuple[str | None, Any]:
    """(name, node) for a top-level class, returning function or assignment, as evalplus."""
    if child.type == ev.CLASS_TYPE:
        return ev.get_definition_name(child), child
    if child.type == ev.FUNCTION_TYPE:
        ok = ev.has_return_statement(child)
        return (ev.get_definition_name(child), child) if ok else (None, None)
    if child.type == ev.EXPRESSION_TYPE and child.children[0].type == ev.ASSIGNMENT_TYPE:
        sub = child.children[0]
        return ev.get_definition_name(sub), sub
    return None, None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, MemoryError, ValueError):
        return False
    return True


# Text steps a preset may ask for, in the order it names them (model makers' own post-processing).
TEXT_STEPS: dict[str, Callable[[str], str]] = {
    "tabs-to-spaces": lambda text: text.replace("\t", "    "),
    "cut-at-backticks": lambda text: text.split("```")[0],
}
LAST_BLOCK = "last-block"


def program_text(raw: str, prompt: Prompt, entry_point: str) -> str:
    """The unsanitized program: prompt + continuation, or the code block of a chat answer.
    Empty when a reasoning block never closed."""
    opened = prompt_opens_reasoning(prompt)
    if reasoning_unclosed(raw, opened):
        return ""
    text = strip_reasoning(("<think>" if opened else "") + raw)
    for step in prompt.extract:
        text = TEXT_STEPS.get(step, _same)(text)
    if prompt.style is PromptStyle.COMPLETION:
        # A base model sometimes closes a fence it imagined; cut there.
        cut = _FENCE.search(text)
        return prompt.prefix + (text[: cut.start()] if cut else text)
    prefill = prefill_of(prompt)
    fenced = text
    opener = prefill.rstrip("\n").rsplit("\n", 1)[-1] if prefill else ""
    if _FENCE.fullmatch(opener) and not _FENCE.match(text.lstrip("\n").split("\n", 1)[0]):
        fenced = opener + "\n" + text  # the prefill opened the block the model continues
    blocks = fenced_blocks(fenced)
    return pick_block(blocks, entry_point, LAST_BLOCK in prompt.extract) if blocks else text


def _same(text: str) -> str:
    return text


def extract_code(raw: str, prompt: Prompt, entry_point: str) -> str:
    """What the sandbox runs for one completion (evalplus's sanitized solution)."""
    program = program_text(raw, prompt, entry_point)
    if not program.strip():
        return ""
    return sanitize(program, entry_point)
