"""Prompt presets: the default mirrors evalplus 0.3.1's own prompt code."""

from __future__ import annotations

import json

import pytest
from evalplus.provider.utility import EOS, extra_eos_for_direct_completion, make_raw_chat_prompt

from apr_eval.core import Problem, PromptStyle
from apr_eval.errors import UsageError
from apr_eval.harness.prompts import (
    builtin_presets,
    choose_style,
    load_preset,
    prefill_of,
    render_evalplus,
)

HE = Problem("humaneval", "v0.1.10", "HumanEval/0",
             "from typing import List\n\n\ndef add(a: int, b: int) -> int:\n"
             '    """Add {a} and {b}."""\n', "add")
MBPP = Problem("mbpp", "v0.2.0", "Mbpp/2",
               '"""\nWrite a function to add.\nassert add(1, 2) == 3\n"""\n', "add")


class TemplateTokenizer:
    """Stands in for a HF tokenizer: a ChatML-like template, as evalplus applies it."""

    chat_template = "chatml"

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool) -> str:
        return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
                       for m in messages)


def chatml(messages: tuple) -> str:
    """Our messages through the same template, the last (prefill) message left open."""
    out = ""
    for i, m in enumerate(messages):
        out += f"<|im_start|>{m.role}\n{m.content}"
        if i < len(messages) - 1:
            out += "<|im_end|>\n"
    return out


@pytest.mark.parametrize("problem", [HE, MBPP])
def test_completion_prompt_matches_evalplus(problem: Problem) -> None:
    p = render_evalplus(problem, PromptStyle.COMPLETION)
    task = problem.prompt.strip() + "\n"
    assert p.text == task and p.prefix == task and not p.messages
    assert set(p.stop) == set(EOS) | set(extra_eos_for_direct_completion(problem.benchmark))


@pytest.mark.parametrize("problem", [HE, MBPP])
def test_chat_prompt_matches_evalplus_raw_chat_prompt(problem: Problem) -> None:
    """evalplus renders the template with a magic splitter in a pre-started assistant turn;
    our messages (user + open assistant prefill) must render to the very same text."""
    preset = load_preset("default")
    theirs = make_raw_chat_prompt(problem.prompt.strip() + "\n", preset.instruction_prefix,
                                  preset.response_prefix, TemplateTokenizer())
    p = render_evalplus(problem, PromptStyle.CHAT)
    assert chatml(p.messages) == theirs
    assert prefill_of(p).endswith("```python\n")
    assert "\n```\n" in p.stop and "\nif __name__" in p.stop
    assert (problem.prompt.strip() in p.messages[0].content)  # braces ({a}) survive templating


def test_openai_preset_matches_evalplus_api_prompt() -> None:
    p = render_evalplus(HE, PromptStyle.CHAT, "openai")
    preset = load_preset("default")
    # evalplus provider/openai.py
    assert p.messages[-1].content == (preset.instruction_prefix
                                      + f"\n```python\n{HE.prompt.strip()}\n```")
    assert prefill_of(p) == ""


def test_fewshot_preset_prepends_examples_but_program_is_the_problem() -> None:
    p = render_evalplus(HE, PromptStyle.COMPLETION, "fewshot")
    assert p.text.endswith(HE.prompt.strip() + "\n") and "add_evens" in p.text
    assert p.prefix == HE.prompt.strip() + "\n"
    chat = render_evalplus(HE, PromptStyle.CHAT, "fewshot")
    assert [m.role for m in chat.messages] == ["user", "assistant", "user", "assistant"]


def test_presets_are_data_files_and_user_files_load(tmp_path) -> None:
    assert {"default", "openai", "fewshot", "perf-instruct"} <= set(builtin_presets())
    d = json.loads(json.dumps({"name": "mine", "completion": {"stop": {"humaneval": ["\n#"]}},
                               "chat": {"user_template": "Solve:\n{prompt}"}}))
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(d))
    p = render_evalplus(HE, PromptStyle.COMPLETION, str(path))
    assert p.stop == ("\n#",)
    c = render_evalplus(HE, PromptStyle.CHAT, str(path))
    assert c.messages[-1].content == "Solve:\n" + HE.prompt.strip()


def test_bad_presets_are_one_clear_error(tmp_path) -> None:
    with pytest.raises(UsageError, match=r"unknown prompt preset 'nope'\. Known: default"):
        load_preset("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(UsageError, match="malformed"):
        load_preset(str(bad))


def test_style_choice() -> None:
    assert choose_style(None, True) is PromptStyle.CHAT
    assert choose_style(None, False) is PromptStyle.COMPLETION
    assert choose_style(PromptStyle.COMPLETION, True) is PromptStyle.COMPLETION
