"""The Backend plug-in point and its registry.

Backends never see benchmark names: everything they need (text or chat messages, stop
sequences) arrives in the :class:`~apr_eval.core.Prompt`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from apr_eval.core import GenerationOutput, ModelInfo, Prompt, PromptStyle, SamplingParams
from apr_eval.errors import BackendError, UsageError
from apr_eval.registry import Registry

OptionsT = TypeVar("OptionsT")


class PartialGenerationError(BackendError):
    """Generation stopped part-way through a batch.

    ``done`` maps the index (in the batch) of every prompt that did finish to its outputs, so
    the caller can store them before reporting the one-line error.
    """

    def __init__(self, message: str, done: Mapping[int, list[GenerationOutput]]) -> None:
        super().__init__(message)
        self.done: dict[int, list[GenerationOutput]] = dict(done)


def is_prefill(prompt: Prompt) -> bool:
    """A chat prompt whose last message is the assistant's: a *prefill*. Backends continue
    that message (the text they return follows it) instead of answering after it."""
    return (prompt.style is PromptStyle.CHAT and bool(prompt.messages)
            and prompt.messages[-1].role == "assistant")


def decoding(backend: Backend) -> dict[str, Any]:
    """Decoder settings of ``backend`` that change texts (not their distribution), such as the
    llamacpp batched decoder's ``n_parallel``: recorded in the manifest and part of the
    comparability key. Empty for backends that have none (an optional ``decoding()``)."""
    method = getattr(backend, "decoding", None)
    return dict(method()) if callable(method) else {}


class Backend(Protocol):
    name: str

    @classmethod
    def from_options(cls, model: str, options: Mapping[str, Any]) -> Self:
        """Validate ``options`` (typed, backend-owned) and build; loads nothing yet."""
        ...

    def __enter__(self) -> Self:
        """Load the model (once per run)."""
        ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def generate(self, prompts: Sequence[Prompt],
                 params: SamplingParams) -> list[list[GenerationOutput]]:
        """``params.n`` outputs for each prompt, in prompt order (batches first)."""
        ...

    def model_info(self) -> ModelInfo: ...

    def has_chat_template(self) -> bool:
        """Whether instruct (chat) prompts are the natural style for this model."""
        ...


BACKENDS: Registry[type[Backend]] = Registry(
    "backend",
    {
        "llamacpp": "apr_eval.harness.generation.backends.llamacpp:LlamaCppBackend",
        "vllm": "apr_eval.harness.generation.backends.vllm:VllmBackend",
        "openai": "apr_eval.harness.generation.backends.openai:OpenAIBackend",
        "fake": "apr_eval.harness.generation.backends.fake:FakeBackend",
    },
)


def parse_options(backend: str, options_type: type[OptionsT],
                  options: Mapping[str, Any]) -> OptionsT:
    """Build the backend's frozen options dataclass from a mapping (CLI ``key=value`` strings
    or typed values), rejecting unknown keys (with a did-you-mean) and ill-typed values."""
    fields = {f.name: f for f in dataclasses.fields(options_type)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(options_type)
    values: dict[str, Any] = {}
    for key, raw in options.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"{backend} backend: unknown option '{key}'.{hint} "
                             f"Known: {', '.join(sorted(fields))}")
        values[key] = _coerce(backend, key, hints[key], raw)
    return options_type(**values)


def _coerce(backend: str, key: str, hint: Any, raw: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = isinstance(hint, types.UnionType) and len(args) < len(typing.get_args(hint))
    target = args[0] if optional and len(args) == 1 else hint
    if raw is None or (optional and raw in ("", "none", "None")):
        if optional:
            return None
        raise UsageError(f"{backend} backend: option '{key}' needs a value")
    try:
        if target is bool:
            return _to_bool(raw)
        if target in (int, float, str):
            if target is int and isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            return target(raw)
    except (TypeError, ValueError):
        name = getattr(target, "__name__", str(target))
        raise UsageError(f"{backend} backend: option '{key}' must be {name}, got {raw!r}") from None
    return raw


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
