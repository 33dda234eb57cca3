"""The llamacpp backend: bad input without a model, then the real embedded model (``model``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from gguf_writer import write_gguf

from apr_eval.core import ChatMessage, GenerationOutput, Prompt, PromptStyle, SamplingParams
from apr_eval.errors import BackendError, UsageError
from apr_eval.harness.generation import models
from apr_eval.harness.generation.backends.base import BACKENDS, PartialGenerationError
from apr_eval.harness.generation.backends.llamacpp import LlamaCppBackend

# -- no model needed ----------------------------------------------------------------------


def test_missing_model_file() -> None:
    with pytest.raises(UsageError, match="model file not found"):
        BACKENDS.get("llamacpp").from_options("/no/such/model.gguf", {})


def test_non_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_text("this is not a model")
    with pytest.raises(UsageError, match="not a GGUF model file"):
        LlamaCppBackend.from_options(str(path), {})


def test_bad_options(tmp_path: Path) -> None:
    path = str(write_gguf(tmp_path / "m.gguf"))
    with pytest.raises(UsageError, match="n_threads must be >= 0"):
        LlamaCppBackend.from_options(path, {"n_threads": -1})
    with pytest.raises(UsageError, match="Did you mean 'n_ctx'"):
        LlamaCppBackend.from_options(path, {"n_ctxx": 512})
    with pytest.raises(UsageError, match="option 'n_gpu_layers' must be int"):
        LlamaCppBackend.from_options(path, {"n_gpu_layers": "all"})
    with pytest.raises(UsageError, match="decode must be one of batched, sequential"):
        LlamaCppBackend.from_options(path, {"decode": "parallel"})
    with pytest.raises(UsageError, match=r"n_parallel must be in 0\.\.255"):
        LlamaCppBackend.from_options(path, {"n_parallel": 300})


def test_threads_default_to_every_cpu_on_an_idle_machine_and_one_on_a_busy_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from apr_eval.harness.generation.backends import llamacpp

    monkeypatch.setattr(llamacpp.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for load, want in ((0.3, 4), (1.9, 4), (2.0, 1), (11.0, 1)):
        monkeypatch.setattr(llamacpp.os, "getloadavg", lambda load=load: (load, 0.0, 0.0))
        assert llamacpp.LlamaCppOptions().threads == want
    assert llamacpp.LlamaCppOptions(n_threads=3).threads == 3


def test_decoding_settings_for_the_manifest(tmp_path: Path) -> None:
    path = str(write_gguf(tmp_path / "m.gguf"))
    assert LlamaCppBackend.from_options(path, {}).decoding() == {  # n_parallel from n_ctx
        "decode": "batched", "n_parallel": 16, "kv": "per-sequence", "prefix_cache": True}
    assert LlamaCppBackend.from_options(
        path, {"prefix_cache": "false"}).decoding()["prefix_cache"] is False
    assert LlamaCppBackend.from_options(path, {"n_ctx": 8192}).decoding()["n_parallel"] == 8
    assert LlamaCppBackend.from_options(path, {"n_ctx": 512}).decoding()["n_parallel"] == 32
    assert LlamaCppBackend.from_options(path, {"n_parallel": 3}).decoding()["n_parallel"] == 3
    assert LlamaCppBackend.from_options(path, {"decode": "sequential"}).decoding() == {}


def test_chat_template_from_metadata(tmp_path: Path) -> None:
    with_template = LlamaCppBackend.from_options(str(write_gguf(tmp_path / "a.gguf")), {})
    bare = LlamaCppBackend.from_options(str(write_gguf(tmp_path / "b.gguf",
                                                       chat_template=None)), {})
    assert with_template.has_chat_template() and not bare.has_chat_template()
    assert LlamaCppBackend.from_options(str(tmp_path / "b.gguf"),
                                        {"chat_format": "chatml"}).has_chat_template()


def test_missing_llama_cpp_gives_install_hint(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    backend = LlamaCppBackend.from_options(str(write_gguf(tmp_path / "m.gguf")), {})
    with pytest.raises(UsageError, match=r"pip install 'apr-eval\[llamacpp\]'"), backend:
        pass


def test_generate_outside_with_block(tmp_path: Path) -> None:
    backend = LlamaCppBackend.from_options(str(write_gguf(tmp_path / "m.gguf")), {})
    with pytest.raises(BackendError, match="outside its 'with' block"):
        backend.generate([Prompt(PromptStyle.COMPLETION, text="x")], SamplingParams())


class StubLlama:
    """Stands in for ``llama_cpp.Llama``: tokens are bytes, completions are recorded."""

    def __init__(self) -> None:
        self.prompts: list[object] = []
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def token_eos(self) -> int:
        return 2

    def token_bos(self) -> int:
        return -1

    def detokenize(self, tokens: list[int], special: bool = False) -> bytes:
        return b"<|im_end|>" if tokens == [2] else b""

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        assert not add_bos and special
        return list(text)

    def create_completion(self, prompt: object, **kwargs: object) -> dict[str, object]:
        self.prompts.append((prompt, kwargs))
        return {"choices": [{"text": "    return 1\n", "finish_reason": "stop"}],
                "usage": {"completion_tokens": 4}}


CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def test_prefill_renders_the_template_up_to_the_open_assistant_turn(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    path = write_gguf(tmp_path / "m.gguf", chat_template=CHATML)
    backend = LlamaCppBackend.from_options(str(path), {})
    stub = StubLlama()
    backend._llm = stub
    prompt = Prompt(PromptStyle.CHAT, stop=("\n```",), messages=(
        ChatMessage("user", "Write f."), ChatMessage("assistant", "```python\ndef f():\n")))
    out = backend.generate([prompt], SamplingParams(n=2, seed=3, temperature=0.5))
    rendered, kwargs = stub.prompts[0]
    assert bytes(rendered).decode() == (  # type: ignore[call-overload]
        "<|im_start|>user\nWrite f.<|im_end|>\n<|im_start|>assistant\n```python\ndef f():\n")
    assert kwargs["stop"] == ["\n```"] and kwargs["temperature"] == 0.5
    assert [p[1]["seed"] for p in stub.prompts] == [3, 4] and stub.resets == 2
    assert [o.text for o in out[0]] == ["    return 1\n"] * 2 and out[0][0].tokens == 4


# -- the real embedded model --------------------------------------------------------------
# Greedy text depends on the llama.cpp build and the CPU's instruction set (summation order),
# so these tests assert what holds on any machine: templates, stop sequences, finish reasons,
# token counts and reproducibility within one machine, never the words the model picks.

CODE = Prompt(PromptStyle.COMPLETION, stop=("\ndef ", "\nif __name__"),
              text='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n')
CHAT = Prompt(PromptStyle.CHAT, messages=(
    ChatMessage("user", "Write a Python function add(a, b) that returns a + b."),))
# A prompt with many plausible continuations: samples with different seeds differ.
OPEN = Prompt(PromptStyle.COMPLETION, text="# Twenty random English words:\nwords = [")
SPECIAL = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")


def finished_consistently(out: GenerationOutput, max_tokens: int) -> bool:
    """``length`` means the budget was used up; ``stop`` means it ended early or on a stop."""
    if out.finish_reason == "length":
        return out.tokens == max_tokens
    return out.finish_reason == "stop" and 0 <= out.tokens <= max_tokens


@pytest.fixture(scope="module", params=["batched", "sequential"])
def backend(request: pytest.FixtureRequest) -> Iterator[LlamaCppBackend]:
    pytest.importorskip("llama_cpp")
    options = {"n_ctx": 512, "decode": request.param}
    with LlamaCppBackend.from_options(models.DEFAULT_MODEL, options) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def batched() -> Iterator[LlamaCppBackend]:
    pytest.importorskip("llama_cpp")
    with LlamaCppBackend.from_options(models.DEFAULT_MODEL,
                                      {"n_ctx": 512, "n_parallel": 4}) as loaded:
        yield loaded


@pytest.mark.model
def test_completion_honours_stops_and_budget(backend: LlamaCppBackend) -> None:
    line = replace(CODE, stop=("\n",))  # any continuation of a function body ends its line
    out = backend.generate([CODE, line], SamplingParams(max_tokens=24))
    free, one_line = out[0][0], out[1][0]
    assert 0 < free.tokens <= 24 and finished_consistently(free, 24)
    assert not any(stop in free.text for stop in CODE.stop)  # cut at the stop, never kept
    assert one_line.finish_reason == "stop" and "\n" not in one_line.text
    assert not any(s in free.text + one_line.text for s in SPECIAL)


@pytest.mark.model
def test_chat_template_is_applied(backend: LlamaCppBackend) -> None:
    chat = backend.generate([CHAT], SamplingParams(max_tokens=160))[0][0]
    assert 0 < chat.tokens <= 160 and finished_consistently(chat, 160)
    assert not any(s in chat.text for s in SPECIAL)
    # A reply, not a continuation of the request: with room to answer, any plausible reply
    # to "write a Python function" holds a definition.
    assert not chat.text.lstrip().startswith("Write a Python function")
    assert "def " in chat.text


@pytest.mark.model
def test_same_seed_same_text(backend: LlamaCppBackend) -> None:
    params = SamplingParams(n=3, temperature=1.0, top_p=0.95, max_tokens=12, seed=5)
    first = [o.text for o in backend.generate([OPEN], params)[0]]
    backend.generate([CODE], replace(params, seed=99))  # leaves another prompt in the cache
    again = [o.text for o in backend.generate([OPEN], params)[0]]
    assert first == again  # reproducible on this machine and build
    assert len(set(first)) > 1  # samples differ from one another
    if backend.options.decode == "sequential":  # alone in its batch, as in a run with n=1
        shifted = [o.text for o in backend.generate([OPEN], replace(params, seed=6, n=1))[0]]
        assert shifted == [first[1]]  # sample j is seeded with seed + j


@pytest.mark.model
def test_batched_rerun_gives_the_same_texts(batched: LlamaCppBackend) -> None:
    """Continuous batching over three prompts x 3 samples through 4 slots: samples of
    different prompts share batches; a rerun with the same settings repeats every text."""
    params = SamplingParams(n=3, temperature=0.8, top_p=0.95, max_tokens=16, seed=1)
    prompts = [OPEN, CODE, CHAT]
    first = batched.generate(prompts, params)
    again = batched.generate(prompts, params)
    assert [[o.text for o in outs] for outs in first] == [[o.text for o in outs]
                                                          for outs in again]
    assert [[o.tokens for o in outs] for outs in first] == [[o.tokens for o in outs]
                                                            for outs in again]
    assert len({o.text for o in first[0]}) > 1  # sample j has its own seed
    streamed = dict(batched.generate_stream(prompts, params))
    assert sorted(streamed) == [0, 1, 2]
    assert [o.text for o in streamed[1]] == [o.text for o in again[1]]


@pytest.mark.model
def test_prefix_cache_evaluates_only_what_differs(batched: LlamaCppBackend) -> None:
    """The holder keeps the previous prompt's cells: the second of two prompts evaluates only
    its tokens after their common prefix (at least its last token, for its logits), and a
    rerun still repeats every text."""
    decoder = batched._decoder
    assert decoder is not None
    greedy = SamplingParams(max_tokens=4)
    longer = replace(CODE, text=CODE.text + "    # add them\n")

    def evaluated(prompts: list[Prompt]) -> tuple[int, list[str]]:
        before = decoder.prompt_tokens_evaluated
        texts = [outs[0].text for outs in batched.generate(prompts, greedy)]
        return decoder.prompt_tokens_evaluated - before, texts

    alone, _ = evaluated([CODE])
    extra, _ = evaluated([longer])
    assert extra > alone  # the comment adds tokens
    assert evaluated([CODE, CODE])[0] == alone + 1
    both, texts = evaluated([CODE, longer])
    assert alone < both < alone + extra
    assert evaluated([CODE, longer]) == (both, texts)


@pytest.mark.model
def test_one_slot_batched_is_the_sequential_path_token_for_token() -> None:
    """With n_parallel=1 the batched decoder does the sequential computation (prompt in one
    pass, each sample alone, same sampler chain and seeds): the texts are identical. Larger
    n_parallel only changes what shares a batch (floating point), measured in perf/."""
    pytest.importorskip("llama_cpp")
    greedy = SamplingParams(max_tokens=24)
    sampled = SamplingParams(n=3, temperature=0.8, top_p=0.95, max_tokens=16, seed=2)
    texts = []
    for options in ({"decode": "sequential"}, {"n_parallel": 1, "prefix_cache": False}):
        with LlamaCppBackend.from_options(models.DEFAULT_MODEL,
                                          {"n_ctx": 512, **options}) as loaded:
            outs = loaded.generate([CHAT, CODE], greedy) + loaded.generate([CHAT], sampled)
            texts.append([[(o.text, o.tokens, o.finish_reason) for o in out] for out in outs])
    assert texts[0] == texts[1]


@pytest.mark.model
def test_batched_stops_and_max_tokens(batched: LlamaCppBackend) -> None:
    one_line = replace(CODE, stop=("\n",))
    params = SamplingParams(n=6, temperature=1.0, max_tokens=24, seed=3)
    short = SamplingParams(n=3, temperature=1.0, max_tokens=5, seed=3)
    lines = batched.generate([one_line, CHAT], params)[0]
    tiny = batched.generate([CHAT], short)[0]
    assert all("\n" not in o.text for o in lines)
    assert any(o.finish_reason == "stop" for o in lines)
    for o in lines:
        assert o.finish_reason in ("stop", "length") and 0 <= o.tokens <= 24
        assert o.finish_reason == "stop" or o.tokens == 24
    assert all(o.tokens <= 5 and (o.finish_reason == "stop" or o.tokens == 5) for o in tiny)
    assert any(o.finish_reason == "length" for o in tiny)
    assert all(o.latency_s > 0 for o in lines + tiny)


@pytest.mark.model
def test_context_overflow_keeps_finished_prompts(backend: LlamaCppBackend) -> None:
    long = Prompt(PromptStyle.COMPLETION, text="x = 1\n" * 600)
    with pytest.raises(PartialGenerationError, match=r"does not fit the context window \(n_ctx=512"
                       ) as err:
        backend.generate([CODE, long], SamplingParams(max_tokens=4))
    assert list(err.value.done) == [0] and err.value.done[0][0].tokens > 0
    assert "\n" not in str(err.value)


@pytest.mark.model
def test_prefilled_chat_is_continued(backend: LlamaCppBackend) -> None:
    prompt = Prompt(PromptStyle.CHAT, stop=("\n```",), messages=(
        ChatMessage("user", "Write a Python function add(a, b) that returns a + b."),
        ChatMessage("assistant", "```python\ndef add(a, b):\n")))
    text = backend.generate([prompt], SamplingParams(max_tokens=16))[0][0].text
    # The function body goes on (indented), it is not a new answer from the top.
    assert text.startswith("    ") and "def add" not in text and "```" not in text


@pytest.mark.model
def test_model_info(backend: LlamaCppBackend) -> None:
    info = backend.model_info()
    assert info.sha256 == models.EMBEDDED[models.DEFAULT_MODEL].sha256
    assert info.quantization == "Q4_K_M" and info.architecture == "qwen2"
    assert info.name == models.DEFAULT_MODEL and info.engine == "llama-cpp-python"
    assert info.engine_version == "0.3.36" and info.parameters and info.parameters > 4e8
    # The build's CPU features are recorded: greedy texts depend on them (README).
    assert "CPU" in info.engine_build and "\n" not in info.engine_build
