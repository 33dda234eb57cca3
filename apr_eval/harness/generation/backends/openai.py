"""Any OpenAI-compatible server: ``vllm serve``, llama.cpp's ``llama-server``,
``python -m llama_cpp.server``.

Chat prompts go to ``/chat/completions``, completion prompts to ``/completions``. Every sample
is its own request (sample ``j`` with seed ``params.seed + j``; not every server honours
``n``), sent from a bounded pool of threads. Connection errors, timeouts, 429 and 5xx are
retried with exponential back-off (tenacity); any other 4xx is a one-line ``BackendError``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests
import tenacity

from apr_eval.core import GenerationOutput, ModelInfo, Prompt, PromptStyle, SamplingParams
from apr_eval.errors import AprEvalError, BackendError, UsageError
from apr_eval.harness.generation import models
from apr_eval.harness.generation.backends.base import (
    PartialGenerationError,
    is_prefill,
    parse_options,
)
from apr_eval.harness.generation.gguf import read_header

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str = "http://127.0.0.1:8000/v1"
    # A file holding the API key: options are recorded in the run manifest, keys must not be.
    api_key_file: str | None = None
    # The model name sent in requests; default: the --model string.
    served_model: str = ""
    concurrency: int = 4
    timeout_s: float = 600.0
    attempts: int = 6  # per request, the first one included
    retry_wait_s: float = 0.5  # first back-off, doubling up to retry_wait_max_s
    retry_wait_max_s: float = 20.0
    # Whether the served model takes chat prompts; default: from the local GGUF if --model
    # names one, else True.
    chat: bool | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise UsageError(f"openai backend: base_url must be an http(s) URL, got "
                             f"{self.base_url!r}")
        if self.concurrency < 1 or self.attempts < 1:
            raise UsageError("openai backend: concurrency and attempts must be >= 1")
        if self.api_key_file is not None and not Path(self.api_key_file).is_file():
            raise UsageError(f"openai backend: api_key_file not found: {self.api_key_file}")


class _RetryableError(Exception):
    """A failure worth another try (connection refused, timeout, 429, 5xx)."""


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, options: OpenAIOptions) -> None:
        self._model = model
        self.options = options
        self._base = options.base_url.rstrip("/")
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._local_path = _local_gguf(model)
        key_file = options.api_key_file
        self._api_key = Path(key_file).read_text().strip() if key_file else ""

    @classmethod
    def from_options(cls, model: str, options: Mapping[str, Any]) -> Self:
        return cls(model, parse_options(cls.name, OpenAIOptions, options))

    def __enter__(self) -> Self:
        self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="openai")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- generation ---------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt],
                 params: SamplingParams) -> list[list[GenerationOutput]]:
        if self._pool is None:
            raise BackendError("openai backend used outside its 'with' block")
        futures = {(i, j): self._pool.submit(self._request, prompt, params, j)
                   for i, prompt in enumerate(prompts) for j in range(params.n)}
        wait(futures.values(), return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures.values() if f.done() and f.exception()), None)
        if failed is None:
            return [[futures[i, j].result() for j in range(params.n)]
                    for i in range(len(prompts))]
        for future in futures.values():
            future.cancel()
        wait(futures.values())
        raise PartialGenerationError(str(failed.exception()), _finished(futures, params.n))

    def _request(self, prompt: Prompt, params: SamplingParams, index: int) -> GenerationOutput:
        body: dict[str, Any] = {
            "model": self.options.served_model or self._model,
            "max_tokens": params.max_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "seed": params.seed + index,
        }
        if prompt.stop:
            body["stop"] = list(prompt.stop)
        if prompt.style is PromptStyle.CHAT:
            endpoint = "/chat/completions"
            body["messages"] = [{"role": m.role, "content": m.content} for m in prompt.messages]
            if is_prefill(prompt):  # vLLM's names; servers without them answer after it
                body |= {"add_generation_prompt": False, "continue_final_message": True}
        else:
            endpoint = "/completions"
            body["prompt"] = prompt.text
        start = time.perf_counter()
        data = self._post(endpoint, body)
        return _parse(data, prompt.style, time.perf_counter() - start)

    def _post(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        opts = self.options
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_RetryableError),
            stop=tenacity.stop_after_attempt(opts.attempts),
            wait=tenacity.wait_exponential(multiplier=opts.retry_wait_s,
                                           max=opts.retry_wait_max_s),
            reraise=True,
        )
        try:
            result: dict[str, Any] = retrying(self._post_once, endpoint, body)
        except _RetryableError as err:
            raise BackendError(f"OpenAI-compatible server at {self._base} failed after "
                               f"{opts.attempts} attempts: {err}") from None
        return result

    def _post_once(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        session = self._session()
        try:
            response = session.post(self._base + endpoint, json=body,
                                    timeout=self.options.timeout_s)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise _RetryableError(f"cannot reach {self._base} ({type(err).__name__})") from None
        if response.status_code in _RETRY_STATUS or response.status_code >= 500:
            raise _RetryableError(f"HTTP {response.status_code} {_message(response)}")
        if response.status_code >= 400:
            raise BackendError(f"{self._base}{endpoint} rejected the request: HTTP "
                               f"{response.status_code} {_message(response)}")
        try:
            data = response.json()
        except ValueError:
            raise BackendError(f"{self._base}{endpoint} answered with non-JSON text") from None
        if not isinstance(data, dict):
            raise BackendError(f"{self._base}{endpoint} answered with unexpected JSON")
        return data

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            if self._api_key:
                session.headers["Authorization"] = f"Bearer {self._api_key}"
            self._local.session = session
        return session

    # -- metadata -----------------------------------------------------------------------

    def model_info(self) -> ModelInfo:
        name = self.options.served_model or self._model
        if self._local_path is not None:
            info = models.describe(self._local_path, name=name)
        else:
            info = ModelInfo(name=name)
        return replace(info, engine="openai-compatible", engine_version=self._base)

    def has_chat_template(self) -> bool:
        if self.options.chat is not None:
            return self.options.chat
        if self._local_path is not None:
            return bool(read_header(self._local_path).chat_template)
        return True


def _local_gguf(model: str) -> Path | None:
    """The local GGUF file ``model`` names (alias or path), for metadata only; else None."""
    if model not in models.EMBEDDED and not Path(model).expanduser().is_file():
        return None
    try:
        path = models.resolve_model(model)
        read_header(path)
    except AprEvalError:
        return None
    return path


def _parse(data: Mapping[str, Any], style: PromptStyle, latency: float) -> GenerationOutput:
    try:
        choice = data["choices"][0]
        if style is PromptStyle.CHAT:
            text = choice["message"].get("content") or ""
        else:
            text = choice["text"]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise BackendError(f"unexpected response from the server: {str(data)[:200]}") from None
    usage = data.get("usage") or {}
    return GenerationOutput(text=str(text), finish_reason=str(choice.get("finish_reason") or ""),
                            tokens=int(usage.get("completion_tokens") or 0), latency_s=latency)


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
        error = data.get("error") or data.get("detail") or data.get("message")
        text = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        text = response.text
    return " ".join(str(text or response.reason).split())[:300]


def _finished(futures: Mapping[tuple[int, int], Future[GenerationOutput]],
              n: int) -> dict[int, list[GenerationOutput]]:
    """Outputs of the prompts whose every sample finished."""
    prompts = {i for i, _ in futures}
    done = {}
    for i in sorted(prompts):
        parts = [futures[i, j] for j in range(n)]
        if all(f.done() and not f.cancelled() and f.exception() is None for f in parts):
            done[i] = [f.result() for f in parts]
    return done
