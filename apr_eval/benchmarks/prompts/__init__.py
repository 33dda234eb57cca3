"""Prompt presets: how a problem becomes a :class:`~apr_eval.core.Prompt`.

Presets are data files (``<name>.json`` beside this module, or any JSON file given by
path), not code. The built-in ``default`` mirrors evalplus 0.3.1 (``codegen.py`` and
``provider/utility.py``):

- **completion** (base models): the problem prompt ``.strip() + "\\n"`` as-is; the model
  continues it; stop sequences are evalplus's EOS list plus its per-dataset extras. The program
  is ``Prompt.prefix + completion``.
- **chat** (instruct models): one user message (instruction prefix + the problem in a fence),
  then the assistant turn *pre-started* with the response prefix and an open python fence.
  A final ``assistant`` message in ``Prompt.messages`` is a prefill: backends continue it
  rather than answer after it (evalplus's ``make_raw_chat_prompt``). Stop: ``"\\n```\\n"``.

A preset may also carry (all optional; see ``docs/prompt-presets.md``):

- ``few_shot``: worked examples, either one list for every benchmark or a table
  ``{benchmark: [...]}`` (each ``{"id", "prompt", "completion"}``); the ids go to the manifest.
- ``chat.format``: a hand-built chat string (``begin``, per-message ``turn`` with ``{role}`` and
  ``{content}``, ``generation`` opening the assistant turn) used *instead of* the model's own
  template, as model makers do in their evaluation code. The rendered text is sent as a raw
  completion prompt, the pre-started assistant text included.
- ``chat.answer_template``: how a few-shot answer is written (``{prompt}``, ``{completion}``,
  ``{response_prefix}``).
- ``chat.extract``: named extraction steps (:data:`EXTRACT_STEPS`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from apr_eval.core import ChatMessage, Problem, Prompt, PromptStyle
from apr_eval.errors import UsageError

ASSISTANT = "assistant"
ALL_BENCHMARKS = "*"
# Extraction steps a preset may name (implemented in apr_eval.benchmarks.extract).
EXTRACT_STEPS = ("tabs-to-spaces", "cut-at-backticks", "last-block")
DEFAULT_ANSWER = "```python\n{prompt}\n{completion}\n```"


@dataclass(frozen=True)
class FewShot:
    prompt: str
    completion: str
    id: str = ""


@dataclass(frozen=True)
class ChatFormat:
    """A hand-built chat string: ``begin`` + one ``turn`` per message + ``generation``."""

    turn: str
    generation: str
    begin: str = ""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    completion_eos: tuple[str, ...]
    completion_stop: Mapping[str, tuple[str, ...]]  # benchmark name -> extra stop sequences
    few_shot: Mapping[str, tuple[FewShot, ...]]  # benchmark name (or "*") -> examples
    system: str
    instruction_prefix: str
    user_template: str
    response_prefix: str
    assistant_template: str
    chat_eos: tuple[str, ...]
    chat_stop: tuple[str, ...]
    chat_format: ChatFormat | None = None
    answer_template: str = DEFAULT_ANSWER
    chat_extract: tuple[str, ...] = ()

    def shots(self, benchmark: str) -> tuple[FewShot, ...]:
        return self.few_shot.get(benchmark, self.few_shot.get(ALL_BENCHMARKS, ()))


def builtin_presets() -> list[str]:
    root = resources.files("apr_eval.benchmarks.prompts")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json"))


def load_preset(name: str) -> Preset:
    """A built-in preset by name, or a JSON file by path (same schema as the built-ins)."""
    text = preset_text(name)
    try:
        return _parse(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"prompt preset '{name}' is malformed: {exc}") from None


def preset_text(name: str) -> str:
    """The preset file's text: a built-in by name, or a .json path."""
    if name.endswith(".json") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"prompt preset file not found: {path}")
        return path.read_text(encoding="utf-8")
    res = resources.files("apr_eval.benchmarks.prompts") / f"{name}.json"
    if not res.is_file():
        known = ", ".join(builtin_presets())
        raise UsageError(f"unknown prompt preset '{name}'. Known: {known} (or a .json path)")
    return res.read_text(encoding="utf-8")


def _strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise TypeError(f"expected a list of strings, got {v!r}")
    return tuple(v)


def preset_record(name: str, benchmark: str) -> dict[str, Any]:
    """The preset file's sha256 and the ids of its few-shot examples for ``benchmark``."""
    digest = hashlib.sha256(preset_text(name).encode("utf-8")).hexdigest()
    shots = load_preset(name).shots(benchmark)
    return {"preset_sha256": digest, "few_shot_ids": [s.id for s in shots]}


def _parse(d: Mapping[str, Any]) -> Preset:
    comp, chat = d["completion"], d["chat"]
    fmt = chat.get("format")
    return Preset(
        name=str(d["name"]),
        description=str(d.get("description", "")),
        completion_eos=_strs(comp.get("eos", [])),
        completion_stop={k: _strs(v) for k, v in comp.get("stop", {}).items()},
        few_shot=_few_shot(d.get("few_shot", comp.get("few_shot", []))),
        system=str(chat.get("system", "")),
        instruction_prefix=str(chat.get("instruction_prefix", "")),
        user_template=str(chat["user_template"]),
        response_prefix=str(chat.get("response_prefix", "")),
        assistant_template=str(chat.get("assistant_template", "")),
        chat_eos=_strs(chat.get("eos", [])),
        chat_stop=_strs(chat.get("stop", [])),
        chat_format=None if fmt is None else ChatFormat(
            str(fmt["turn"]), str(fmt["generation"]), str(fmt.get("begin", ""))),
        answer_template=str(chat.get("answer_template", DEFAULT_ANSWER)),
        chat_extract=_steps(chat.get("extract", [])),
    )


def _few_shot(v: Any) -> dict[str, tuple[FewShot, ...]]:
    table = v if isinstance(v, Mapping) else {ALL_BENCHMARKS: v}
    return {bench: tuple(FewShot(str(x["prompt"]), str(x["completion"]), str(x.get("id", "")))
                         for x in shots) for bench, shots in table.items()}


def _steps(v: Any) -> tuple[str, ...]:
    steps = _strs(v)
    unknown = [s for s in steps if s not in EXTRACT_STEPS]
    if unknown:
        raise ValueError(f"unknown extract step(s) {unknown}; known: {list(EXTRACT_STEPS)}")
    return steps


def _fill(template: str, **values: str) -> str:
    """``{name}`` substitution in one pass: other braces (common in code) and placeholders
    inside the substituted values are left alone."""
    if not values:
        return template
    names = "|".join(re.escape(k) for k in values)
    return re.sub(r"\{(" + names + r")\}", lambda m: values[m.group(1)], template)


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def render(problem: Problem, style: PromptStyle, preset: Preset) -> Prompt:
    task = problem.prompt.strip() + "\n"  # evalplus codegen: task["prompt"].strip() + "\n"
    shots = preset.shots(problem.benchmark)
    if style is PromptStyle.COMPLETION:
        text = "".join(s.prompt + s.completion + "\n\n" for s in shots)
        stop = preset.completion_eos + preset.completion_stop.get(problem.benchmark, ())
        return Prompt(style=style, text=text + task, stop=_unique(stop), prefix=task)
    messages = chat_messages(preset, shots, task)
    stop = _unique(preset.chat_eos + preset.chat_stop)
    if preset.chat_format is not None:  # the maker's own string, not the model's template
        return Prompt(style=PromptStyle.COMPLETION, text=format_chat(preset.chat_format, messages),
                      stop=stop, extract=preset.chat_extract)
    return Prompt(style=style, messages=messages, stop=stop, extract=preset.chat_extract)


def chat_messages(preset: Preset, shots: Sequence[FewShot],
                  task: str) -> tuple[ChatMessage, ...]:
    """System, few-shot exchanges, the task, and the pre-started assistant turn (if any)."""
    messages: list[ChatMessage] = []
    if preset.system:
        messages.append(ChatMessage("system", preset.system))
    for shot in shots:
        messages.append(ChatMessage("user", _user(preset, shot.prompt)))
        answer = _fill(preset.answer_template, response_prefix=preset.response_prefix,
                       prompt=shot.prompt.strip(), completion=shot.completion.rstrip())
        messages.append(ChatMessage(ASSISTANT, answer))
    messages.append(ChatMessage("user", _user(preset, task)))
    prefill = _fill(preset.assistant_template, response_prefix=preset.response_prefix)
    if prefill:
        messages.append(ChatMessage(ASSISTANT, prefill))
    return tuple(messages)


def format_chat(fmt: ChatFormat, messages: Sequence[ChatMessage]) -> str:
    """The chat as one string; a final assistant message is left open (a prefill)."""
    prefill = messages[-1].content if messages and messages[-1].role == ASSISTANT else ""
    closed = messages[:-1] if prefill else messages
    turns = "".join(_fill(fmt.turn, role=m.role, content=m.content) for m in closed)
    return fmt.begin + turns + fmt.generation + prefill


def _user(preset: Preset, task: str) -> str:
    return _fill(preset.user_template, instruction_prefix=preset.instruction_prefix,
                 prompt=task.strip())


def render_evalplus(problem: Problem, style: PromptStyle, preset: str = "default") -> Prompt:
    """The HumanEval+/MBPP+ prompt for ``problem`` in ``style`` under a named preset."""
    return render(problem, style, load_preset(preset))


def prefill_of(prompt: Prompt) -> str:
    """The pre-started assistant text the model continues ("" if none)."""
    if prompt.style is PromptStyle.CHAT and len(prompt.messages) > 1 \
            and prompt.messages[-1].role == ASSISTANT:
        return prompt.messages[-1].content
    return ""


def choose_style(requested: PromptStyle | None, has_chat_template: bool) -> PromptStyle:
    """``--prompt-style`` wins; otherwise chat when the model has a chat template."""
    if requested is not None:
        return requested
    return PromptStyle.CHAT if has_chat_template else PromptStyle.COMPLETION
