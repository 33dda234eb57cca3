"""The batched llamacpp decoder against the per-sample loop (``decode=sequential``).

One process, one model file, the same HumanEval+ prompts (the harness's own, default preset):

  (a) sampled: ``--problems`` problems x ``--n`` samples at T=0.8 (top-p 0.95);
  (b) greedy: ``--greedy-problems`` problems, n=1.

It prints aggregate generation tokens/s (completion tokens / wall time, prompt evaluation
included) of each decoder and their ratio, the prompt-processing tokens/s of the same model
and threads (one 512-token batch: the ceiling for batched decoding on this CPU) and how close
the batched decoder gets to it, the greedy mismatch rate between the two decoders, and the
batched decoder at each of ``--threads``. The per-sample loop costs the same per sample
whatever ``n`` is, so ``--seq-n`` (default: all) draws fewer of the samples of (a) with it.

    python perf/llamacpp_batched.py [--problems 20] [--n 10] [--greedy-problems 40]
        [--max-tokens 512] [--threads 1,2] [--n-parallel 0] [--seq-n N]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from apr_eval.benchmarks.base import open_benchmark
from apr_eval.core import Prompt, PromptStyle, SamplingParams
from apr_eval.harness.generation import models
from apr_eval.harness.generation.backends.llamacpp import LlamaCppBackend


@dataclass(frozen=True)
class Side:
    seconds: float
    tokens: int
    texts: list[list[str]]

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def prompts(count: int) -> list[Prompt]:
    bench = open_benchmark("humaneval")
    return [bench.render_prompt(p, PromptStyle.CHAT) for p in bench.load()[:count]]


def side(model: str, options: dict[str, Any], batch: list[Prompt],
         params: SamplingParams) -> Side:
    with LlamaCppBackend.from_options(model, options) as backend:
        start = time.perf_counter()
        out = backend.generate(batch, params)
        seconds = time.perf_counter() - start
    return Side(seconds, sum(o.tokens for outs in out for o in outs),
                [[o.text for o in outs] for outs in out])


def prompt_rate(model: str, threads: int, length: int = 512) -> float:
    """Prompt-processing tokens/s: one batch of ``length`` tokens, best of three."""
    options = {"decode": "sequential", "n_ctx": 2048, "n_threads": threads}
    with LlamaCppBackend.from_options(model, options) as backend:
        llm = backend._llm  # the loaded model itself
        tokens = (llm.tokenize(b"def f(x):\n    return x * 2\n" * 200, add_bos=False))[:length]
        best = float("inf")
        for _ in range(3):
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens)
            best = min(best, time.perf_counter() - start)
    return length / best


def report(name: str, batched: Side, sequential: Side, ceiling: float) -> None:
    print(f"{name}: batched {batched.tokens} tokens in {batched.seconds:.1f}s = "
          f"{batched.rate:.1f} tok/s; sequential {sequential.tokens} tokens in "
          f"{sequential.seconds:.1f}s = {sequential.rate:.1f} tok/s; "
          f"ratio {batched.rate / sequential.rate:.2f}x; batched = "
          f"{100 * batched.rate / ceiling:.0f}% of prompt processing")


def greedy_part(model: str, batched_opts: dict[str, Any], sequential_opts: dict[str, Any],
                args: argparse.Namespace, ceiling: float) -> None:
    """(b): both decoders on the same greedy prompts, and how many texts differ."""
    greedy = prompts(args.greedy_problems)
    gparams = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens)
    b_batched = side(model, batched_opts, greedy, gparams)
    b_sequential = side(model, sequential_opts, greedy, gparams)
    report(f"(b) {args.greedy_problems} problems greedy", b_batched, b_sequential, ceiling)
    differ = sum(x != y for x, y in zip(b_batched.texts, b_sequential.texts, strict=True))
    print(f"greedy mismatch batched vs sequential: {differ}/{len(greedy)} "
          f"({100 * differ / len(greedy):.0f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=models.DEFAULT_MODEL)
    parser.add_argument("--problems", type=int, default=20)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seq-n", type=int, default=None)
    parser.add_argument("--greedy-problems", type=int, default=40, help="0 skips (b)")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--n-parallel", type=int, default=0)
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    base = {"n_ctx": 2048, "n_threads": threads[0]}
    batched_opts = {**base, "n_parallel": args.n_parallel}
    sequential_opts = {**base, "decode": "sequential"}
    ceilings = {t: prompt_rate(args.model, t) for t in threads}
    for t, rate in ceilings.items():
        print(f"prompt processing, {t} thread(s): {rate:.1f} tok/s")

    sampled = prompts(args.problems)
    params = SamplingParams(n=args.n, temperature=0.8, top_p=0.95,
                            max_tokens=args.max_tokens, seed=0)
    a_batched = side(args.model, batched_opts, sampled, params)
    seq_params = SamplingParams(n=args.seq_n or args.n, temperature=0.8, top_p=0.95,
                                max_tokens=args.max_tokens, seed=0)
    a_sequential = side(args.model, sequential_opts, sampled, seq_params)
    report(f"(a) {args.problems} problems x n={args.n} (sequential n={seq_params.n}), T=0.8",
           a_batched, a_sequential, ceilings[threads[0]])

    if args.greedy_problems:
        greedy_part(args.model, batched_opts, sequential_opts, args, ceilings[threads[0]])
    for t in threads[1:]:
        more = side(args.model, {**batched_opts, "n_threads": t}, sampled, params)
        print(f"(a) batched with {t} threads: {more.rate:.1f} tok/s "
              f"({more.rate / a_batched.rate:.2f}x of {threads[0]} thread(s)); "
              f"{100 * more.rate / ceilings[t]:.0f}% of its prompt processing")
    print(f"n_ctx=2048, n_parallel={args.n_parallel or 'auto'}, max_tokens={args.max_tokens}")


if __name__ == "__main__":
    main()
