"""LiveCodeBench prompt formats (lcb_runner/prompts/code_generation.py).

Chat models get lcb_runner's generic template (the ``OpenAIChat`` style: system message +
``### Question`` / ``### Format`` / ``### Answer``). Base models get its base-model layout
(``### Question`` / ``### Starter Code`` / ``### Answer``) with one solved example first;
upstream reads that example from ``few_shot_examples/generation/{func,stdin}.json``, which is
not available here, so the example text below is our own (the layout is upstream's).
"""

from __future__ import annotations

from apr_eval.core import ChatMessage, Problem, Prompt, PromptStyle

SYSTEM_MESSAGE = (
    "You are an expert Python programmer. You will be given a question (problem specification) "
    "and will generate a correct Python program that matches the specification and passes all "
    "tests. You will NOT return anything except for the program.")
FORMAT_WITH_STARTER = ("You will use the following starter code to write the solution to the "
                       "problem and enclose your code within delimiters.")
FORMAT_WITHOUT_STARTER = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not "
    "directly test on the sample inputs). Enclose your code within delimiters as follows.")

_STDIN_EXAMPLE = (
    "You are given two integers A and B. Print A + B.\n\nInput\n\nThe input is given from "
    "Standard Input in the following format:\nA B\n\nOutput\n\nPrint the answer.\n\n"
    "Sample Input 1\n\n3 5\n\nSample Output 1\n\n8",
    "",
    "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
)
_FUNC_EXAMPLE = (
    "Given an integer array nums, return the sum of its elements.\n\nExample 1:\n\n"
    "Input: nums = [1,2,3]\nOutput: 6",
    "class Solution:\n    def arraySum(self, nums: List[int]) -> int:\n        ",
    "```python\nclass Solution:\n    def arraySum(self, nums: List[int]) -> int:\n"
    "        return sum(nums)\n```",
)


def chat_user_message(question: str, starter_code: str) -> str:
    text = f"### Question:\n{question}\n\n"
    if starter_code:
        text += f"### Format: {FORMAT_WITH_STARTER}\n```python\n{starter_code}\n```\n\n"
    else:
        text += f"### Format: {FORMAT_WITHOUT_STARTER}\n```python\n# YOUR CODE HERE\n```\n\n"
    return text + "### Answer: (use the provided format with backticks)\n\n"


def _base_block(question: str, starter_code: str, answer: str, with_starter: bool) -> str:
    text = f"### Question\n{question}\n\n"
    if with_starter:
        text += f"### Starter Code\n{starter_code}\n\n"
    text += f"### Answer\n\n{answer}"
    return text + "\n\n" if answer else text


def base_prompt(question: str, starter_code: str) -> str:
    example = _FUNC_EXAMPLE if starter_code else _STDIN_EXAMPLE
    with_starter = bool(starter_code)
    return (_base_block(*example, with_starter=with_starter)
            + _base_block(question, starter_code, "", with_starter=with_starter))


def render(problem: Problem, style: PromptStyle) -> Prompt:
    if style is PromptStyle.CHAT:
        messages = (ChatMessage("system", SYSTEM_MESSAGE),
                    ChatMessage("user", chat_user_message(problem.prompt, problem.starter_code)))
        return Prompt(style=style, messages=messages)
    text = base_prompt(problem.prompt, problem.starter_code)
    return Prompt(style=style, text=text, stop=("### Question",), prefix="")
