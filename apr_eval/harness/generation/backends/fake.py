"""A scripted backend for tests and ``--dry-run``: no model, deterministic outputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from apr_eval.core import GenerationOutput, ModelInfo, Prompt, SamplingParams
from apr_eval.errors import BackendError, UsageError

# (prompt, sample index) -> completion text
Script = Callable[[Prompt, int], str]


class FakeBackend:
    name = "fake"

    def __init__(self, script: Script | None = None, model: str = "fake", *,
                 responses: Mapping[str, Sequence[str]] | None = None, chat: bool = False,
                 delay_s: float = 0.0, fail_after: int | None = None) -> None:
        """``responses`` maps a substring of the prompt to the outputs for samples 0, 1, ...
        (the last one repeats); otherwise ``script`` decides; otherwise the output is empty.
        ``delay_s`` sleeps per output (a slow model, for kill tests); ``fail_after`` raises a
        BackendError once that many prompts were answered (a backend dying mid-run)."""
        self._script = script
        self._responses = dict(responses or {})
        self._model = model
        self._chat = chat
        self._delay_s = delay_s
        self._fail_after = fail_after
        self.calls: list[tuple[Prompt, SamplingParams]] = []

    @classmethod
    def from_options(cls, model: str, options: Mapping[str, Any]) -> Self:
        unknown = set(options) - {"responses", "chat", "delay_s", "fail_after"}
        if unknown:
            raise UsageError(f"fake backend: unknown option(s) {', '.join(sorted(unknown))}")
        fail_after = options.get("fail_after")
        try:
            return cls(model=model, responses=options.get("responses"),
                       chat=bool(options.get("chat", False)),
                       delay_s=float(options.get("delay_s", 0.0)),
                       fail_after=None if fail_after is None else int(fail_after))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"fake backend: bad option value ({exc})") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def _one(self, prompt: Prompt, index: int) -> str:
        body = prompt.text or "\n".join(m.content for m in prompt.messages)
        for needle, outs in self._responses.items():
            if needle in body and outs:
                return outs[min(index, len(outs) - 1)]
        return self._script(prompt, index) if self._script else ""

    def generate(self, prompts: Sequence[Prompt],
                 params: SamplingParams) -> list[list[GenerationOutput]]:
        result = []
        for prompt in prompts:
            if self._fail_after is not None and len(self.calls) >= self._fail_after:
                raise BackendError(f"fake backend: scripted failure after {self._fail_after} "
                                   "prompt(s)")
            self.calls.append((prompt, params))
            texts = [self._one(prompt, i) for i in range(params.n)]
            if self._delay_s:
                time.sleep(self._delay_s * params.n)
            result.append([GenerationOutput(t, "stop", len(t.split())) for t in texts])
        return result

    def model_info(self) -> ModelInfo:
        return ModelInfo(name=self._model, engine="fake", engine_version="0")

    def has_chat_template(self) -> bool:
        return self._chat
