"""Prompt presets: the default mirrors evalplus 0.3.1's own prompt code."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from evalplus.provider.utility import EOS, extra_eos_for_direct_completion, make_raw_chat_prompt

from apr_eval.benchmarks.prompts import (
    builtin_presets,
    choose_style,
    load_preset,
    prefill_of,
    preset_record,
    render_evalplus,
)
from apr_eval.core import Problem, PromptStyle
from apr_eval.errors import UsageError

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
    assert {"default", "openai", "fewshot", "perf-instruct", "qwen2.5-coder-instruct",
            "few-shot", "scot"} <= set(builtin_presets())
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


# ------------------------------------------------------------------ maker recipes, few-shot, SCoT

DATA = Path(__file__).resolve().parents[1] / "apr_eval" / "benchmarks" / "data" / "evalplus"


def tasks(filename: str) -> dict[str, dict[str, str]]:
    with gzip.open(DATA / filename, "rt", encoding="utf-8") as f:
        return {t["task_id"]: t for t in map(json.loads, f)}


HE_TASKS = tasks("HumanEvalPlus-v0.1.10.jsonl.gz")
MBPP_TASKS = tasks("MbppPlus-v0.2.0.jsonl.gz")
HE2 = Problem("humaneval", "v0.1.10", "HumanEval/2", HE_TASKS["HumanEval/2"]["prompt"],
              "truncate_number")
MBPP11 = Problem("mbpp", "v0.2.0", "Mbpp/11", MBPP_TASKS["Mbpp/11"]["prompt"],
                 "remove_Occ")
EVALPLUS_EOS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(",
                "\nprint(")


def qwen_chatml(prompt: str) -> str:
    """QwenLM/Qwen2.5-Coder qwencoder-eval/chat/eval_plus/model.py, class ChatML, verbatim."""
    return f"""<|im_start|>system
You are an intelligent programming assistant to produce Python algorithmic solutions<|im_end|>
<|im_start|>user
Can you complete the following Python function?
```python
{prompt}
```
<|im_end|>
<|im_start|>assistant
```python
"""


@pytest.mark.parametrize("problem", [HE2, MBPP11])
def test_qwen_recipe_renders_qwens_exact_string(problem: Problem) -> None:
    p = render_evalplus(problem, PromptStyle.CHAT, "qwen2.5-coder-instruct")
    # sent as raw text (not through the model's template), the prefill included
    assert p.style is PromptStyle.COMPLETION and not p.messages and p.prefix == ""
    assert p.text == qwen_chatml(problem.prompt.strip())  # generate.py: task["prompt"].strip()
    assert p.stop == (*EVALPLUS_EOS, "\n#", "\n```")
    assert p.extract == ("tabs-to-spaces", "cut-at-backticks")


def test_qwen_recipe_exact_text_for_humaneval_2() -> None:
    p = render_evalplus(HE2, PromptStyle.CHAT, "qwen2.5-coder-instruct")
    assert p.text == (
        "<|im_start|>system\nYou are an intelligent programming assistant to produce Python "
        "algorithmic solutions<|im_end|>\n<|im_start|>user\nCan you complete the following "
        "Python function?\n```python\ndef truncate_number(number: float) -> float:\n"
        '    """ Given a positive floating point number, it can be decomposed into\n'
        "    and integer part (largest integer smaller than given number) and decimals\n"
        "    (leftover part always smaller than 1).\n\n"
        "    Return the decimal part of the number.\n    >>> truncate_number(3.5)\n    0.5\n"
        '    """\n```\n<|im_end|>\n<|im_start|>assistant\n```python\n')


def test_qwen_recipe_base_model_style_is_evalplus() -> None:
    assert render_evalplus(HE2, PromptStyle.COMPLETION, "qwen2.5-coder-instruct") == \
        render_evalplus(HE2, PromptStyle.COMPLETION)


DEFAULT_INSTRUCTION = ("Please provide a self-contained Python script that solves the "
                       "following problem in a markdown code block:")
DEFAULT_RESPONSE = ("Below is a Python script with a self-contained function that solves the "
                    "problem and passes corresponding tests:")


def exchange(task: dict[str, str], solution: str) -> list[tuple[str, str]]:
    """One worked example as the few-shot preset writes it (the default preset's wording)."""
    prompt = task["prompt"].strip()
    return [("user", f"{DEFAULT_INSTRUCTION}\n```\n{prompt}\n```\n"),
            ("assistant", f"{DEFAULT_RESPONSE}\n```python\n{prompt}\n{solution.rstrip()}\n```")]


@pytest.mark.parametrize(("problem", "source", "ids"), [
    (HE2, "MbppPlus-v0.2.0.jsonl.gz", ["Mbpp/2", "Mbpp/3", "Mbpp/4"]),
    (MBPP11, "HumanEval.jsonl.gz", ["HumanEval/23", "HumanEval/34", "HumanEval/45"]),
])
def test_few_shot_renders_examples_from_the_other_benchmark(problem: Problem, source: str,
                                                            ids: list[str]) -> None:
    examples = tasks(source)
    p = render_evalplus(problem, PromptStyle.CHAT, "few-shot")
    expected: list[tuple[str, str]] = []
    for tid in ids:  # the examples are the source dataset's tasks, verbatim
        expected += exchange(examples[tid], examples[tid]["canonical_solution"])
    task = problem.prompt.strip()
    expected += [("user", f"{DEFAULT_INSTRUCTION}\n```\n{task}\n```\n"),
                 ("assistant", f"{DEFAULT_RESPONSE}\n```python\n")]
    assert [(m.role, m.content) for m in p.messages] == expected
    assert p.stop == (*EVALPLUS_EOS, "\n```\n")
    base = render_evalplus(problem, PromptStyle.COMPLETION, "few-shot")
    shots = "".join(examples[t]["prompt"] + examples[t]["canonical_solution"] + "\n\n"
                    for t in ids)
    assert base.text == shots + task + "\n" and base.prefix == task + "\n"
    assert preset_record("few-shot", problem.benchmark)["few_shot_ids"] == ids


def test_few_shot_examples_never_come_from_the_evaluated_benchmark() -> None:
    preset = load_preset("few-shot")
    for bench, ids in (("humaneval", HE_TASKS), ("mbpp", MBPP_TASKS)):
        shots = preset.shots(bench)
        assert len(shots) == 3 and not {s.id for s in shots} & set(ids)


SCOT_INSTRUCTION = (
    "Solve the following problem in two steps.\n"
    "Step 1, the solving process: state the input and the output, then write the steps using "
    "only three structures: sequence (one step after another), branch (if ... else ...) and "
    "loop (for ... / while ...). Keep it short and in plain language.\n"
    "Step 2, the code: following your solving process, write the complete, self-contained "
    "Python function in one markdown code block (```python ... ```).")


@pytest.mark.parametrize("problem", [HE2, MBPP11])
def test_scot_renders_the_structured_instruction_without_prefill(problem: Problem) -> None:
    p = render_evalplus(problem, PromptStyle.CHAT, "scot")
    assert [(m.role, m.content) for m in p.messages] == [
        ("user", f"{SCOT_INSTRUCTION}\n\n```python\n{problem.prompt.strip()}\n```\n")]
    assert prefill_of(p) == "" and p.stop == EVALPLUS_EOS and p.extract == ("last-block",)


def test_hand_built_chat_format_and_answer_template_from_a_user_file(tmp_path: Path) -> None:
    d = {"name": "llama3ish", "few_shot": [{"id": "x/1", "prompt": "def g():\n",
                                            "completion": "    return 1\n"}],
         "completion": {},
         "chat": {"system": "S", "user_template": "Q: {prompt}", "assistant_template": "A:",
                  "answer_template": "A: {completion} ({prompt})",
                  "format": {"begin": "<bos>", "turn": "<{role}>{content}</>",
                             "generation": "<assistant>"}}}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(d))
    p = render_evalplus(HE, PromptStyle.CHAT, str(path))
    assert p.text == ("<bos><system>S</><user>Q: def g():</><assistant>A:     return 1 "
                      f"(def g():)</><user>Q: {HE.prompt.strip()}</><assistant>A:")
    bad = dict(d, chat=dict(d["chat"], extract=["nope"]))
    path.write_text(json.dumps(bad))
    with pytest.raises(UsageError, match="unknown extract step"):
        load_preset(str(path))
