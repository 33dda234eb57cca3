"""llama-cpp-python, in process, for GGUF files.

Chat prompts go through the model's own chat template (from the GGUF metadata, as
``create_chat_completion`` renders it); completion prompts are raw continuations with stop
sequences. Sample ``j`` is seeded ``params.seed + j``.

Two decoders (option ``decode``):

- ``batched`` (default, :mod:`.llamacpp_batched`): each prompt is evaluated once and its
  samples, and those of the next prompts, decode together in one batch per step, up to
  ``n_parallel`` at once (continuous batching). Same settings and ``n_parallel``, same texts.
- ``sequential``: samples one by one through ``create_completion``; the context is reset
  before every sample, because a reused prompt cache changes seeded (and greedy) text.

Sampling is plain temperature / top-p, like vLLM and OpenAI servers: llama.cpp's own extras
(top-k 40, min-p 0.05) are switched off so the numbers mean the same thing on every backend.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from apr_eval.core import GenerationOutput, ModelInfo, Prompt, PromptStyle, SamplingParams
from apr_eval.errors import BackendError, UsageError
from apr_eval.harness.generation import models
from apr_eval.harness.generation.backends.base import (
    PartialGenerationError,
    is_prefill,
    parse_options,
)
from apr_eval.harness.generation.backends.llamacpp_batched import (
    BatchedDecoder,
    Request,
    auto_parallel,
)
from apr_eval.harness.generation.gguf import GGUFHeader, read_header

INSTALL_HINT = "pip install 'apr-eval[llamacpp]' (builds llama-cpp-python, ~6.5 min on 2 cores)"
# Cut point for rendering a pre-started assistant turn (evalplus's make_raw_chat_prompt).
_SPLIT = "\x00APR_EVAL_PREFILL\x00"
_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")
# llama-cpp-python 0.3.36 reports a prompt longer than n_ctx this way in some paths
_BROADCAST = re.compile(r"could not broadcast input array from shape \((\d+),\) into shape")


DECODERS = ("batched", "sequential")
MAX_PARALLEL = 255  # llama.cpp's LLAMA_MAX_SEQ is 256; one sequence holds the prompt


@dataclass(frozen=True)
class LlamaCppOptions:
    n_ctx: int = 4096
    # 0: every CPU this process may use while the machine is idle (measured on a calm 2-core
    # machine: 2 threads decode batched 1.6x faster than 1), one thread when it is busy (load
    # average >= half the CPUs: llama.cpp's threads wait on each other, and two were slower
    # than one on a shared machine). See docs/backends.md.
    n_threads: int = 0
    # Layers offloaded to the GPU (-1: all) where llama-cpp-python was built with one.
    n_gpu_layers: int = 0
    n_batch: int = 512
    # "batched" (prompt once, samples decoded together) or "sequential" (one by one).
    decode: str = "batched"
    # Samples decoded at once by the batched decoder; 0: sized from n_ctx (16 at 4096).
    n_parallel: int = 0
    # The batched decoder keeps the previous prompt's cells and evaluates only what differs
    # (a system prompt, an instruction, few-shot examples are evaluated once per run).
    prefix_cache: bool = True
    # A llama-cpp-python chat format name, to override the GGUF's own template.
    chat_format: str | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.n_ctx < 16:
            raise UsageError(f"llamacpp backend: n_ctx must be >= 16, got {self.n_ctx}")
        if self.n_threads < 0:
            raise UsageError(f"llamacpp backend: n_threads must be >= 0 (0: automatic), got "
                             f"{self.n_threads}")
        if self.n_batch < 1:
            raise UsageError(f"llamacpp backend: n_batch must be >= 1, got {self.n_batch}")
        if self.decode not in DECODERS:
            raise UsageError(f"llamacpp backend: decode must be one of {', '.join(DECODERS)}, "
                             f"got {self.decode!r}")
        if not 0 <= self.n_parallel <= MAX_PARALLEL:
            raise UsageError(f"llamacpp backend: n_parallel must be in 0..{MAX_PARALLEL} "
                             f"(0: automatic), got {self.n_parallel}")

    @property
    def threads(self) -> int:
        """``n_threads`` resolved (see the field)."""
        return self.n_threads or auto_threads()

    @property
    def parallel(self) -> int:
        """The batched decoder's number of parallel sequences (``n_parallel`` resolved)."""
        return self.n_parallel or auto_parallel(self.n_ctx)


def auto_threads() -> int:
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count()) or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0  # not on Windows
    return cpus if load < cpus / 2 else 1


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise UsageError(f"the llamacpp backend needs llama-cpp-python: {INSTALL_HINT}") from None
    return llama_cpp


def engine_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return ""


def engine_build() -> str:
    """llama.cpp's system info (CPU features the build uses, e.g. ``AVX2 = 1``): the same
    model, settings and seed give the same text only on the same build and instruction set."""
    raw = import_llama_cpp().llama_print_system_info()
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


class _Rendered(Exception):
    """Raised by :class:`_CaptureLlama` with what a chat handler would complete."""

    def __init__(self, tokens: list[int], stop: list[str]) -> None:
        super().__init__("rendered")
        self.tokens, self.stop = tokens, stop


class _CaptureLlama:
    """Given to a llama-cpp-python chat handler as its ``llama``: it tokenizes with the real
    model and, instead of completing, hands back the prompt tokens and stop strings (so the
    batched decoder sees exactly what ``create_chat_completion`` would)."""

    verbose = False

    def __init__(self, llm: Any) -> None:
        self._llm = llm

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(self._llm.tokenize(text, add_bos=add_bos, special=special))

    def create_completion(self, prompt: list[int], stop: list[str] | None = None,
                          **_: Any) -> Any:
        raise _Rendered(list(prompt), list(stop or []))


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, model: str, path: Path, header: GGUFHeader,
                 options: LlamaCppOptions) -> None:
        self._model = model
        self._path = path
        self._header = header
        self.options = options
        self._llm: Any = None
        self._formatter: Any = None
        self._decoder: BatchedDecoder | None = None

    @classmethod
    def from_options(cls, model: str, options: Mapping[str, Any]) -> Self:
        parsed = parse_options(cls.name, LlamaCppOptions, options)
        path = models.resolve_model(model)
        return cls(model, path, read_header(path), parsed)

    def __enter__(self) -> Self:
        llama_cpp = import_llama_cpp()
        opts = self.options
        batched = opts.decode == "batched"
        threads = opts.threads
        # The batched decoder has a context of its own; this one then only tokenizes.
        n_ctx = min(opts.n_ctx, 256) if batched else opts.n_ctx
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self._path), n_ctx=n_ctx, n_threads=threads,
                n_threads_batch=threads, n_gpu_layers=opts.n_gpu_layers,
                n_batch=min(opts.n_batch, n_ctx), chat_format=opts.chat_format,
                verbose=opts.verbose)
        except (ValueError, RuntimeError) as err:
            raise BackendError(f"llama.cpp could not load {self._path}: {err}") from None
        if batched:
            try:
                self._decoder = BatchedDecoder(
                    llama_cpp, self._llm.model, self._llm._model.vocab, n_ctx=opts.n_ctx,
                    n_parallel=opts.parallel, n_batch=min(opts.n_batch, opts.n_ctx),
                    n_threads=threads, prefix_cache=opts.prefix_cache)
            except BackendError:
                self._llm.close()
                raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close()
        llm, self._llm, self._formatter = self._llm, None, None
        if llm is not None:
            llm.close()

    def decoding(self) -> dict[str, Any]:
        """What besides the sampling parameters decides the texts (recorded in the manifest
        and the comparability key): the batched decoder and its ``n_parallel``; nothing for
        the sequential decoder, the reference (runs made before batching had only it). ``kv``
        tells this layout (a KV stream per sequence) from the first batched decoder's
        (one unified cache), whose texts differ in floating point."""
        if self.options.decode == "sequential":
            return {}
        return {"decode": "batched", "n_parallel": self.options.parallel,
                "kv": "per-sequence", "prefix_cache": self.options.prefix_cache}

    def generate(self, prompts: Sequence[Prompt],
                 params: SamplingParams) -> list[list[GenerationOutput]]:
        done = dict(self.generate_stream(prompts, params))
        return [done[i] for i in range(len(prompts))]

    def generate_stream(self, prompts: Sequence[Prompt], params: SamplingParams
                        ) -> Iterator[tuple[int, list[GenerationOutput]]]:
        """``(prompt index, its n outputs)`` as each prompt finishes (the batched decoder
        finishes them out of order). A prompt that does not fit the window stops the run
        with :class:`PartialGenerationError` once the prompts before it are done."""
        if self._llm is None:
            raise BackendError("llamacpp backend used outside its 'with' block (model not loaded)")
        if self._decoder is None:
            yield from self._sequential(prompts, params)
            return
        requests, failure = self._requests(prompts, params)
        done: dict[int, list[GenerationOutput]] = {}
        for index, outputs in self._decoder.run(requests, params):
            done[index] = outputs
            yield index, outputs
        if failure is not None:
            raise PartialGenerationError(failure, done)

    def _sequential(self, prompts: Sequence[Prompt], params: SamplingParams
                    ) -> Iterator[tuple[int, list[GenerationOutput]]]:
        done: dict[int, list[GenerationOutput]] = {}
        for index, prompt in enumerate(prompts):
            self._check_style(prompt)
            try:
                done[index] = [self._sample(prompt, params, j) for j in range(params.n)]
            except ValueError as err:
                raise PartialGenerationError(self._explain(index, err), done) from None
            yield index, done[index]

    def _requests(self, prompts: Sequence[Prompt],
                  params: SamplingParams) -> tuple[list[Request], str | None]:
        """The prompts tokenized, up to the first one that does not fit the window (and the
        error for it)."""
        requests: list[Request] = []
        for index, prompt in enumerate(prompts):
            self._check_style(prompt)
            tokens, stop = self._tokens(prompt)
            room = self.options.n_ctx - len(tokens)
            if room <= 0 or not tokens:
                return requests, _overflow(index, len(tokens), self.options.n_ctx)
            requests.append(Request(tuple(tokens), tuple(s.encode() for s in stop if s),
                                    min(params.max_tokens, room)))
        return requests, None

    def _tokens(self, prompt: Prompt) -> tuple[list[int], list[str]]:
        """Prompt tokens and stop strings, as the sequential path builds them."""
        if is_prefill(prompt):
            return self._render_prefill(prompt), list(prompt.stop)
        if prompt.style is PromptStyle.CHAT:
            return self._render_chat(prompt)
        tokens = self._llm.tokenize(prompt.text.encode(), add_bos=True, special=True)
        return list(tokens), list(prompt.stop)

    def _render_chat(self, prompt: Prompt) -> tuple[list[int], list[str]]:
        from llama_cpp import llama_chat_format

        llm = self._llm
        handler: Any = (llm.chat_handler or llm._chat_handlers.get(llm.chat_format)
                        or llama_chat_format.get_chat_completion_handler(llm.chat_format))
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        try:
            handler(llama=_CaptureLlama(llm), messages=messages, stop=list(prompt.stop) or None)
        except _Rendered as rendered:
            return rendered.tokens, rendered.stop
        raise BackendError(f"chat format '{llm.chat_format}' cannot be batched: "
                           "use the llamacpp option decode=sequential")

    def _check_style(self, prompt: Prompt) -> None:
        if prompt.style is PromptStyle.CHAT and not self.has_chat_template():
            raise UsageError(
                f"{self._path.name} has no chat template: use completion prompts "
                "(--prompt-style completion) or the llamacpp option chat_format=<name>")
        if is_prefill(prompt) and not self._header.chat_template:
            raise UsageError(f"{self._path.name}: a pre-started assistant turn needs the "
                             "model's own chat template (GGUF metadata), not chat_format")

    def _explain(self, index: int, err: ValueError) -> str:
        found = _OVERFLOW.search(str(err))
        if not found and _BROADCAST.search(str(err)):
            return (f"prompt {index} does not fit the context window (n_ctx="
                    f"{self.options.n_ctx}): raise the llamacpp option n_ctx or shorten it")
        if not found:
            return f"llama.cpp failed on prompt {index}: {err}"
        return _overflow(index, int(found[1]), int(found[2]))

    def _sample(self, prompt: Prompt, params: SamplingParams, index: int) -> GenerationOutput:
        llm = self._llm
        llm.reset()  # a reused prompt cache changes the text: keep every sample reproducible
        kwargs: dict[str, Any] = {
            "max_tokens": params.max_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0,
            "seed": params.seed + index, "stop": list(prompt.stop) or None,
        }
        start = time.perf_counter()
        if is_prefill(prompt):
            response = llm.create_completion(self._render_prefill(prompt), **kwargs)
            text = response["choices"][0]["text"]
        elif prompt.style is PromptStyle.CHAT:
            messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
            response = llm.create_chat_completion(messages=messages, **kwargs)
            text = response["choices"][0]["message"].get("content") or ""
        else:
            response = llm.create_completion(prompt.text, **kwargs)
            text = response["choices"][0]["text"]
        latency = time.perf_counter() - start
        choice = response["choices"][0]
        return GenerationOutput(text=text, finish_reason=str(choice.get("finish_reason") or ""),
                                tokens=int(response["usage"]["completion_tokens"]),
                                latency_s=latency)

    def _render_prefill(self, prompt: Prompt) -> list[int]:
        """Tokens of the chat rendered by the GGUF template up to the end of the pre-started
        assistant message (no end-of-turn), so that generation continues it."""
        llm = self._llm
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            def special(token: int) -> str:
                return "" if token < 0 else llm.detokenize([token], special=True).decode()

            self._formatter = Jinja2ChatFormatter(
                template=self._header.chat_template, eos_token=special(llm.token_eos()),
                bos_token=special(llm.token_bos()), add_generation_prompt=False)
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        messages[-1]["content"] += _SPLIT
        rendered = self._formatter(messages=messages).prompt
        head = rendered.split(_SPLIT)[0]
        return list(llm.tokenize(head.encode(), add_bos=False, special=True))

    def model_info(self) -> ModelInfo:
        name = self._model if self._model in models.EMBEDDED else self._path.stem
        info = models.describe(self._path, name=name, header=self._header)
        return replace(info, engine="llama-cpp-python", engine_version=engine_version(),
                       engine_build=engine_build())

    def has_chat_template(self) -> bool:
        return bool(self._header.chat_template or self.options.chat_format)


def _overflow(index: int, tokens: int, n_ctx: int) -> str:
    return (f"prompt {index} is {tokens} tokens, which does not fit the context window "
            f"(n_ctx={n_ctx}): raise the llamacpp option n_ctx or shorten the prompt")
