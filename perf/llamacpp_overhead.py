"""Overhead of the llamacpp backend against a bare llama-cpp-python loop.

Same process, same model file, same settings, same HumanEval+ prompts (greedy): the backend's
``generate`` against a plain ``create_chat_completion`` / ``create_completion`` loop. Runs are
interleaved (A B B A ...) so that machine noise hits both sides alike. Goal: overhead <= 5%.
The backend's per-sample loop (``--decode sequential``, the default here) is the like-for-like
comparison; ``--decode batched`` shows the batched decoder against the same bare loop (see
perf/llamacpp_batched.py for that comparison in full).

    python perf/llamacpp_overhead.py [--prompts 20] [--max-tokens 48] [--rounds 2] [--decode D]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path
from typing import Any

from apr_eval.core import ChatMessage, Prompt, PromptStyle, SamplingParams
from apr_eval.harness.generation import models
from apr_eval.harness.generation.backends.llamacpp import LlamaCppBackend

DATA = Path("/work/shared/data/humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz")
STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(")


def load_prompts(path: Path, count: int) -> list[str]:
    with gzip.open(path, "rt") as stream:
        return [json.loads(line)["prompt"] for line, _ in zip(stream, range(count), strict=False)]


def to_prompt(text: str, style: PromptStyle) -> Prompt:
    if style is PromptStyle.CHAT:
        request = f"Complete this Python function:\n```python\n{text}```"
        return Prompt(style, messages=(ChatMessage("user", request),))
    return Prompt(style, text=text, stop=STOP)


def bare_loop(llm: Any, prompts: list[Prompt], max_tokens: int) -> int:
    """What a user would write with llama-cpp-python alone; returns generated tokens."""
    tokens = 0
    for prompt in prompts:
        kwargs = {"max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0, "top_k": 0,
                  "min_p": 0.0, "repeat_penalty": 1.0, "seed": 0, "stop": list(prompt.stop)}
        if prompt.style is PromptStyle.CHAT:
            messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
            out = llm.create_chat_completion(messages=messages, **kwargs)
        else:
            out = llm.create_completion(prompt.text, **kwargs)
        tokens += out["usage"]["completion_tokens"]
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=models.DEFAULT_MODEL)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--style", choices=[s.value for s in PromptStyle], default="chat")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--decode", choices=["sequential", "batched"], default="sequential")
    args = parser.parse_args()

    import llama_cpp

    prompts = [to_prompt(t, PromptStyle(args.style)) for t in load_prompts(args.data, args.prompts)]
    options = {"n_ctx": 2048, "n_threads": args.threads, "decode": args.decode}
    params = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens)
    backend = LlamaCppBackend.from_options(args.model, options)
    path = str(models.resolve_model(args.model))
    bare = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=args.threads,
                           n_threads_batch=args.threads, n_batch=512, verbose=False)
    timings: dict[str, list[float]] = {"backend": [], "bare": []}
    tokens: dict[str, list[int]] = {"backend": [], "bare": []}
    with backend:
        for index in range(args.rounds * 2):
            side = "backend" if index % 4 in (0, 3) else "bare"  # A B B A
            start = time.perf_counter()
            if side == "backend":
                out = backend.generate(prompts, params)
                count = sum(o.tokens for outs in out for o in outs)
            else:
                count = bare_loop(bare, prompts, args.max_tokens)
            timings[side].append(time.perf_counter() - start)
            tokens[side].append(count)
            print(f"round {index}: {side:8s} {timings[side][-1]:7.2f}s {count:5d} tokens")
    bare.close()
    report(timings, tokens, args)


def report(timings: dict[str, list[float]], tokens: dict[str, list[int]],
           args: argparse.Namespace) -> None:
    for side in ("bare", "backend"):
        total, count = sum(timings[side]), sum(tokens[side])
        print(f"{side:8s}: {total:7.2f}s for {count} tokens ({count / total:5.1f} tokens/s)")
    ratio = sum(timings["backend"]) / sum(timings["bare"])
    per_token = (sum(timings["backend"]) / sum(tokens["backend"])) / (
        sum(timings["bare"]) / sum(tokens["bare"]))
    print(f"prompts={args.prompts} max_tokens={args.max_tokens} style={args.style} "
          f"threads={args.threads} rounds={args.rounds} decode={args.decode}")
    print(f"overhead ratio (wall) backend/bare = {ratio:.3f}; per token = {per_token:.3f}; "
          f"goal <= 1.05: {'OK' if ratio <= 1.05 else 'OVER'}")


if __name__ == "__main__":
    main()
