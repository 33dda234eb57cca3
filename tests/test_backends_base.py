"""Typed backend options and the prefill rule shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from apr_eval.core import ChatMessage, Prompt, PromptStyle
from apr_eval.errors import UsageError
from apr_eval.harness.generation.backends.base import is_prefill, parse_options


@dataclass(frozen=True)
class Opts:
    size: int = 1
    ratio: float = 0.5
    name: str = "x"
    flag: bool = False
    limit: int | None = None
    chat: bool | None = None


def test_strings_from_the_command_line_are_coerced() -> None:
    opts = parse_options("demo", Opts, {"size": "3", "ratio": "0.25", "flag": "yes",
                                        "limit": "none", "chat": "false", "name": "y"})
    assert opts == Opts(size=3, ratio=0.25, name="y", flag=True, limit=None, chat=False)
    assert parse_options("demo", Opts, {"limit": 7, "size": 2.0}) == Opts(size=2, limit=7)
    assert parse_options("demo", Opts, {}) == Opts()


@pytest.mark.parametrize(("options", "message"), [
    ({"sise": 1}, "unknown option 'sise'. Did you mean 'size'?"),
    ({"size": "big"}, "option 'size' must be int, got 'big'"),
    ({"size": 1.5}, "option 'size' must be int"),
    ({"flag": "maybe"}, "option 'flag' must be bool"),
    ({"size": None}, "option 'size' needs a value"),
])
def test_bad_options_are_one_line(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_options("demo", Opts, options)
    assert str(err.value).startswith(f"demo backend: {message}")


def test_prefill_is_a_final_assistant_message() -> None:
    user = ChatMessage("user", "q")
    assert is_prefill(Prompt(PromptStyle.CHAT, messages=(user, ChatMessage("assistant", "a"))))
    assert not is_prefill(Prompt(PromptStyle.CHAT, messages=(user,)))
    assert not is_prefill(Prompt(PromptStyle.COMPLETION, text="x"))
