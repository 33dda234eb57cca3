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
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from apr_eval.core import ChatMessage, Problem, Prompt, PromptStyle
from apr_eval.errors import UsageError

ASSISTANT = "assistant"


@dataclass(frozen=True)
class FewShot:
    prompt: str
    completion: str


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    completion_eos: tuple[str, ...]
    completion_stop: Mapping[str, tuple[str, ...]]  # benchmark name -> extra stop sequences
    few_shot: tuple[FewShot, ...]
    system: str
    instruction_prefix: str
    user_template: str
    response_prefix: str
    assistant_template: str
    chat_eos: tuple[str, ...]
    chat_stop: tuple[str, ...]


def builtin_presets() -> list[str]:
    root = resources.files("apr_eval.harness.prompts")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json"))


def load_preset(name: str) -> Preset:
    """A built-in preset by name, or a JSON file by path (same schema as the built-ins)."""
    if name.endswith(".json") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"prompt preset file not found: {path}")
        text = path.read_text(encoding="utf-8")
    else:
        res = resources.files("apr_eval.harness.prompts") / f"{name}.json"
        if not res.is_file():
            known = ", ".join(builtin_presets())
            raise UsageError(f"unknown prompt preset '{name}'. Known: {known} (or a .json path)")
        text = res.read_text(encoding="utf-8")
    try:
        return _parse(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"prompt preset '{name}' is malformed: {exc}") from None


def _strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise TypeError(f"expected a list of strings, got {v!r}")
    return tuple(v)


def _parse(d: Mapping[str, Any]) -> Preset:
    comp, chat = d["completion"], d["chat"]
    return Preset(
        name=str(d["name"]),
        description=str(d.get("description", "")),
        completion_eos=_strs(comp.get("eos", [])),
        completion_stop={k: _strs(v) for k, v in comp.get("stop", {}).items()},
        few_shot=tuple(FewShot(str(x["prompt"]), str(x["completion"]))
                       for x in comp.get("few_shot", [])),
        system=str(chat.get("system", "")),
        instruction_prefix=str(chat.get("instruction_prefix", "")),
        user_template=str(chat["user_template"]),
        response_prefix=str(chat.get("response_prefix", "")),
        assistant_template=str(chat.get("assistant_template", "")),
        chat_eos=_strs(chat.get("eos", [])),
        chat_stop=_strs(chat.get("stop", [])),
    )


def _fill(template: str, **values: str) -> str:
    """``{name}`` substitution that leaves other braces (common in code) alone."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def render(problem: Problem, style: PromptStyle, preset: Preset) -> Prompt:
    task = problem.prompt.strip() + "\n"  # evalplus codegen: task["prompt"].strip() + "\n"
    if style is PromptStyle.COMPLETION:
        shots = "".join(s.prompt + s.completion + "\n\n" for s in preset.few_shot)
        stop = preset.completion_eos + preset.completion_stop.get(problem.benchmark, ())
        return Prompt(style=style, text=shots + task, stop=_unique(stop), prefix=task)
    messages: list[ChatMessage] = []
    if preset.system:
        messages.append(ChatMessage("system", preset.system))
    for shot in preset.few_shot:
        messages.append(ChatMessage("user", _user(preset, shot.prompt)))
        answer = f"```python\n{shot.prompt.strip()}\n{shot.completion.rstrip()}\n```"
        messages.append(ChatMessage(ASSISTANT, answer))
    messages.append(ChatMessage("user", _user(preset, task)))
    prefill = _fill(preset.assistant_template, response_prefix=preset.response_prefix)
    if prefill:
        messages.append(ChatMessage(ASSISTANT, prefill))
    return Prompt(style=style, messages=tuple(messages),
                  stop=_unique(preset.chat_eos + preset.chat_stop))


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
