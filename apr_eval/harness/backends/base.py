"""The Backend plug-in point and its registry.

Backends never see benchmark names: everything they need (text or chat messages, stop
sequences) arrives in the :class:`~apr_eval.core.Prompt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from apr_eval.core import GenerationOutput, ModelInfo, Prompt, SamplingParams
from apr_eval.registry import Registry


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
        "llamacpp": "apr_eval.harness.backends.llamacpp:LlamaCppBackend",
        "vllm": "apr_eval.harness.backends.vllm:VllmBackend",
        "openai": "apr_eval.harness.backends.openai:OpenAIBackend",
        "fake": "apr_eval.harness.backends.fake:FakeBackend",
    },
)
