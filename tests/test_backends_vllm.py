"""The vllm backend against a stand-in ``vllm`` module that records every call.

It proves the mapping (n through SamplingParams, seed, per-prompt stop sequences, chat vs
completion, LoRA, engine options, load-once) without vLLM or a GPU.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gguf_writer import write_gguf

from apr_eval.core import ChatMessage, Prompt, PromptStyle, SamplingParams
from apr_eval.errors import UsageError
from apr_eval.harness.generation.backends.base import BACKENDS, PartialGenerationError
from apr_eval.harness.generation.backends.vllm import VllmBackend


@dataclass
class FakeCompletion:
    text: str
    finish_reason: str
    token_ids: list[int]


@dataclass
class FakeRequestOutput:
    outputs: list[FakeCompletion]


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@dataclass
class FakeLoRARequest:
    name: str
    lora_id: int
    path: str


@dataclass
class FakeLLM:
    kwargs: dict[str, Any]
    calls: list[tuple[str, list[Any], dict[str, Any]]] = field(default_factory=list)
    fail: bool = False

    def _answer(self, method: str, items: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        self.calls.append((method, items, kwargs))
        if self.fail:
            raise ValueError("prompt (length 9000) is longer than the maximum model length 4096")
        outs = []
        for item, sp in zip(items, kwargs["sampling_params"], strict=True):
            n = sp.kwargs["n"]
            key = item if isinstance(item, str) else item[-1]["content"]
            outs.append(FakeRequestOutput([
                FakeCompletion(f"{method}:{key}:{sp.kwargs['seed']}:{j}", "stop", [1] * (j + 1))
                for j in range(n)]))
        return outs

    def generate(self, prompts: list[str], **kwargs: Any) -> list[Any]:
        return self._answer("generate", prompts, kwargs)

    def chat(self, conversations: list[list[dict[str, str]]], **kwargs: Any) -> list[Any]:
        return self._answer("chat", conversations, kwargs)

    def get_tokenizer(self) -> Any:
        return types.SimpleNamespace(chat_template="{{ x }}")


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> list[FakeLLM]:
    engines: list[FakeLLM] = []
    module = types.ModuleType("vllm")
    module.__version__ = "0.0-standin"  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]

    def make_llm(**kwargs: Any) -> FakeLLM:
        engines.append(FakeLLM(kwargs))
        return engines[-1]

    module.LLM = make_llm  # type: ignore[attr-defined]
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = FakeLoRARequest  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.lora", lora)
    monkeypatch.setitem(sys.modules, "vllm.lora.request", request)
    return engines


@pytest.fixture
def hf_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"architectures": ["Qwen2ForCausalLM"], "torch_dtype": "float32",
         "_name_or_path": "Qwen/Tiny"}))
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ m }}"}))
    return folder


COMPLETION = Prompt(PromptStyle.COMPLETION, text="def f():", stop=("\ndef",))
CHAT = Prompt(PromptStyle.CHAT, messages=(ChatMessage("user", "write g"),), stop=("```\n",))


def test_n_seed_stop_and_styles_map_to_vllm(fake_vllm: list[FakeLLM], hf_folder: Path) -> None:
    backend = BACKENDS.get("vllm").from_options(
        str(hf_folder), {"tensor_parallel_size": "2", "enable_prefix_caching": "true"})
    params = SamplingParams(n=3, temperature=0.8, top_p=0.95, max_tokens=64, seed=7)
    with backend:
        out = backend.generate([COMPLETION, CHAT, COMPLETION], params)
        backend.generate([CHAT], params)
    assert len(fake_vllm) == 1  # loaded once for the whole run
    engine = fake_vllm[0]
    assert engine.kwargs["model"] == str(hf_folder)
    assert engine.kwargs["tensor_parallel_size"] == 2
    assert engine.kwargs["enable_prefix_caching"] is True
    # left to vLLM's own defaults unless asked for
    assert "pipeline_parallel_size" not in engine.kwargs
    assert "distributed_executor_backend" not in engine.kwargs
    # One request per prompt with n=3: the prompt is not repeated.
    chat_call, gen_call, _ = engine.calls
    assert gen_call[0] == "generate" and gen_call[1] == ["def f():", "def f():"]
    assert chat_call[0] == "chat" and chat_call[1] == [[{"role": "user", "content": "write g"}]]
    sampling = gen_call[2]["sampling_params"][0].kwargs
    assert sampling == {"n": 3, "temperature": 0.8, "top_p": 0.95, "max_tokens": 64, "seed": 7,
                        "stop": ["\ndef"]}
    assert chat_call[2]["sampling_params"][0].kwargs["stop"] == ["```\n"]
    assert "lora_request" not in gen_call[2]
    # Outputs come back in prompt order, n per prompt, with token counts.
    assert [len(o) for o in out] == [3, 3, 3]
    assert [o.text for o in out[1]] == [f"chat:write g:7:{j}" for j in range(3)]
    assert out[2][2].text == "generate:def f()::7:2" and out[2][2].tokens == 3


def test_multi_node_parallelism_reaches_the_engine(fake_vllm: list[FakeLLM],
                                                   hf_folder: Path) -> None:
    options = {"tensor_parallel_size": "8", "pipeline_parallel_size": "2",
               "distributed_executor_backend": "ray"}
    with VllmBackend.from_options(str(hf_folder), options):
        pass
    kwargs = fake_vllm[0].kwargs
    assert (kwargs["tensor_parallel_size"], kwargs["pipeline_parallel_size"]) == (8, 2)
    assert kwargs["distributed_executor_backend"] == "ray"


def test_lora_adapter_is_requested(fake_vllm: list[FakeLLM], hf_folder: Path,
                                   tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    backend = VllmBackend.from_options(str(hf_folder), {"lora_path": str(adapter),
                                                        "max_lora_rank": 32})
    with backend:
        backend.generate([COMPLETION], SamplingParams())
        info = backend.model_info()
    engine = fake_vllm[0]
    assert engine.kwargs["enable_lora"] is True and engine.kwargs["max_lora_rank"] == 32
    assert engine.calls[0][2]["lora_request"] == FakeLoRARequest("adapter", 1, str(adapter))
    assert info.engine == "vllm" and info.engine_version == "0.0-standin"
    assert info.architecture == "Qwen2ForCausalLM" and len(info.sha256) == 64
    assert "LoRA" in info.lineage


def test_rejected_batch_keeps_finished_outputs(fake_vllm: list[FakeLLM], hf_folder: Path) -> None:
    backend = VllmBackend.from_options(str(hf_folder), {})
    with backend:
        fake_vllm[0].fail = True
        with pytest.raises(PartialGenerationError, match="longer than the maximum") as err:
            backend.generate([COMPLETION], SamplingParams())
    assert err.value.done == {}


def test_chat_template_detection(fake_vllm: list[FakeLLM], hf_folder: Path) -> None:
    backend = VllmBackend.from_options(str(hf_folder), {})
    assert backend.has_chat_template()  # from tokenizer_config.json, before loading
    assert not VllmBackend.from_options(str(hf_folder), {"chat": "false"}).has_chat_template()


def test_missing_vllm_gives_install_hint(monkeypatch: pytest.MonkeyPatch, hf_folder: Path) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    backend = VllmBackend.from_options(str(hf_folder), {})
    with pytest.raises(UsageError, match=r"pip install 'apr-eval\[vllm\]'"), backend:
        pass


def test_bad_vllm_options(hf_folder: Path) -> None:
    with pytest.raises(UsageError, match="Did you mean 'tensor_parallel_size'"):
        VllmBackend.from_options(str(hf_folder), {"tensor_paralel_size": 2})
    with pytest.raises(UsageError, match="must be int"):
        VllmBackend.from_options(str(hf_folder), {"tensor_parallel_size": "two"})
    with pytest.raises(UsageError, match="pipeline_parallel_size must be >= 1"):
        VllmBackend.from_options(str(hf_folder), {"pipeline_parallel_size": 0})
    with pytest.raises(UsageError, match="distributed_executor_backend must be one of mp, ray"):
        VllmBackend.from_options(str(hf_folder), {"distributed_executor_backend": "slurm"})
    with pytest.raises(UsageError, match="LoRA adapter folder not found"):
        VllmBackend.from_options(str(hf_folder), {"lora_path": "/no/adapter"})
    with pytest.raises(UsageError, match="model not found"):
        VllmBackend.from_options("/no/model.gguf", {})


def test_prefilled_chat_is_continued(fake_vllm: list[FakeLLM], hf_folder: Path) -> None:
    prefill = Prompt(PromptStyle.CHAT, messages=(
        ChatMessage("user", "write g"), ChatMessage("assistant", "```python\n")))
    with VllmBackend.from_options(str(hf_folder), {}) as backend:
        out = backend.generate([prefill, CHAT], SamplingParams())
    calls = fake_vllm[0].calls
    assert len(calls) == 2
    plain, continued = sorted(calls, key=lambda c: "continue_final_message" in c[2])
    assert "add_generation_prompt" not in plain[2]
    assert continued[2]["continue_final_message"] is True
    assert continued[2]["add_generation_prompt"] is False
    assert continued[1][0][-1] == {"role": "assistant", "content": "```python\n"}
    assert out[0][0].text == "chat:```python\n:0:0" and out[1][0].text == "chat:write g:0:0"


def test_gguf_file_is_loaded_directly(fake_vllm: list[FakeLLM], tmp_path: Path,
                                      hf_folder: Path) -> None:
    gguf = write_gguf(tmp_path / "tiny-q4_k_m.gguf")
    backend = VllmBackend.from_options(str(gguf), {})
    assert backend.has_chat_template()  # from the GGUF header, before loading
    with backend:
        out = backend.generate([COMPLETION], SamplingParams(n=2))
        info = backend.model_info()
    engine = fake_vllm[0]
    # vLLM's GGUF loader gets the file; the tokenizer is the GGUF's own unless one is named
    assert engine.kwargs["model"] == str(gguf) and "tokenizer" not in engine.kwargs
    assert [o.text for o in out[0]] == ["generate:def f()::0:0", "generate:def f()::0:1"]
    assert info.quantization == "Q4_K_M" and info.architecture == "qwen2"
    assert info.engine == "vllm" and info.path == str(gguf.resolve()) and info.sha256
    named = VllmBackend.from_options(str(gguf), {"tokenizer": str(hf_folder)})
    with named:
        pass
    assert fake_vllm[1].kwargs["tokenizer"] == str(hf_folder)
    bare = write_gguf(tmp_path / "bare.gguf", chat_template=None)
    assert not VllmBackend.from_options(str(bare), {}).has_chat_template()
    assert VllmBackend.from_options(str(bare), {"tokenizer": str(hf_folder)}).has_chat_template()


def test_non_gguf_file_is_one_clear_line(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_text("not a model")
    with pytest.raises(UsageError, match="not a GGUF model file"):
        VllmBackend.from_options(str(weights), {})
