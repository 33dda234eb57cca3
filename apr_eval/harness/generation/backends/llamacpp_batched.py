"""Batched decoding for the llamacpp backend (``decode=batched``, the default).

Every prompt is evaluated once, into a *holder* sequence, and every one of its ``n`` samples
draws its first token from the prompt's logits. A sample then takes a slot as a copy of the
holder's KV cells (``llama_memory_seq_cp``: the cells are shared, no data is copied), and all
live samples decode together: one ``llama_decode`` per step over one ``llama_batch``. Slots
are filled continuously: a finished sample frees its slot and the next sample (of the same
prompt, else of the next prompt) takes it, up to ``n_parallel`` at once. The KV cache is
unified and sized so that every live sample can reach the full window: ``(n_parallel + 1) *
n_ctx`` cells.

Each sample has its own sampler chain, in the order llama-cpp-python uses for the sequential
path without its extras (top-p, temperature, a distribution seeded ``seed + j``; greedy at
temperature 0), its own stop sequences and ``max_tokens``. The schedule depends only on the
prompts, ``n`` and ``n_parallel``, so a rerun gives the same texts. With ``n_parallel=1`` the
computation is the sequential path's, token for token; a larger ``n_parallel`` puts other
samples' tokens in the same batches and KV window, which can change floating-point results,
hence texts (not their distribution).
"""

from __future__ import annotations

import ctypes
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apr_eval.core import GenerationOutput, SamplingParams
from apr_eval.errors import BackendError

# Parallel sequences by default: as many windows of n_ctx as fit this many KV cells (16 for
# the default n_ctx of 4096), at most 32.
AUTO_CELLS = 65536
MAX_AUTO_PARALLEL = 32


def auto_parallel(n_ctx: int) -> int:
    return max(1, min(MAX_AUTO_PARALLEL, AUTO_CELLS // n_ctx))


@dataclass(frozen=True)
class Request:
    """One prompt, tokenized: its stop sequences and its ``max_tokens`` (already capped so
    that prompt + completion fit the window)."""

    tokens: tuple[int, ...]
    stop: tuple[bytes, ...]
    max_tokens: int


@dataclass
class _Live:
    request: int
    sample: int
    sampler: Any
    token: int  # the next token to feed (the last one drawn)
    pos: int
    started: float
    tokens: int = 0
    text: bytearray = field(default_factory=bytearray)


def stop_cut(text: bytearray, stops: Sequence[bytes], before: int) -> int | None:
    """Where to cut ``text`` when a stop sequence appeared in it after ``before`` bytes (the
    first stop in list order that occurs, at its first occurrence, as llama-cpp-python does)."""
    for stop in stops:
        at = text.find(stop, max(0, before - len(stop) + 1))
        if at >= 0:
            return at
    return None


class BatchedDecoder:
    """A llama.cpp context of its own (on the loaded model) for batched sampling."""

    def __init__(self, lib: Any, model: Any, vocab: Any, *, n_ctx: int, n_parallel: int,
                 n_batch: int, n_threads: int, prefix_cache: bool = True) -> None:
        self._lib = lib
        self._vocab = vocab
        self._n_parallel = n_parallel
        self._holder = n_parallel  # seq ids 0..n_parallel-1 are sample slots
        self._n_batch = n_batch  # prompt chunks, as the sequential path's
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx * (n_parallel + 1)
        # llama.cpp reserves one output per sequence: the batch must hold them all
        params.n_batch = params.n_ubatch = max(n_batch, n_parallel + 1)
        params.n_seq_max = n_parallel + 1
        # a KV stream per sequence: each sample attends over its own cells only (one unified
        # cache makes every sample's attention span every live sample's cells); a slot's
        # stream starts as a copy of the holder's
        params.kv_unified = False
        params.n_threads = params.n_threads_batch = n_threads
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the sequential path
        params.no_perf = True
        self._ctx = lib.llama_init_from_model(model, params)
        if not self._ctx:
            raise BackendError(f"llama.cpp could not create a context for n_parallel="
                               f"{n_parallel} x n_ctx={n_ctx} (KV cache too large for memory?): "
                               "lower the llamacpp option n_parallel or n_ctx")
        self._mem = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(params.n_batch, 0, 1)
        self._piece = ctypes.create_string_buffer(64)
        self._held: tuple[int, ...] = ()  # the prompt whose cells the holder sequence has
        self._prefix_cache = prefix_cache
        self.prompt_tokens_evaluated = 0  # over the decoder's life (tests, perf)

    def close(self) -> None:
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None

    def run(self, requests: Sequence[Request],
            params: SamplingParams) -> Iterator[tuple[int, list[GenerationOutput]]]:
        """``(request index, its n outputs)`` as each request finishes (not in order)."""
        waiting: deque[_Live] = deque()  # samples of the loaded prompt not yet in a slot
        live: dict[int, _Live] = {}  # slot -> sample
        done: dict[int, dict[int, GenerationOutput]] = {i: {} for i in range(len(requests))}
        loaded = 0
        try:
            while loaded < len(requests) or waiting or live:
                finished: list[tuple[_Live, GenerationOutput]] = []
                while len(live) < self._n_parallel and (waiting or loaded < len(requests)):
                    if not waiting:
                        finished += self._load(loaded, requests[loaded], params, waiting)
                        loaded += 1
                        continue
                    slot = min(set(range(self._n_parallel)) - set(live))
                    self._lib.llama_memory_seq_cp(self._mem, self._holder, slot, -1, -1)
                    live[slot] = waiting.popleft()
                if live:
                    finished += self._step(live, requests)
                for seq, output in finished:
                    self._lib.llama_sampler_free(seq.sampler)
                    done[seq.request][seq.sample] = output
                    if len(done[seq.request]) == params.n:
                        outputs = done.pop(seq.request)
                        yield seq.request, [outputs[j] for j in range(params.n)]
        finally:
            for seq in [*waiting, *live.values()]:
                self._lib.llama_sampler_free(seq.sampler)
            self._lib.llama_memory_clear(self._mem, True)
            self._held = ()

    # -- scheduling ------------------------------------------------------------------------

    def _load(self, index: int, req: Request, params: SamplingParams,
              waiting: deque[_Live]) -> list[tuple[_Live, GenerationOutput]]:
        """Evaluate the prompt into the holder and draw every sample's first token from its
        logits (as the sequential path does); the samples that already finished."""
        tokens = req.tokens
        # the holder keeps the previous prompt: its cells up to the first differing token are
        # reused (a system prompt, an instruction, few-shot examples), as llama-cpp-python's
        # sequential path reuses its cache's longest common prefix; the last token is always
        # evaluated again, for its logits
        common = min(_common_prefix(self._held, tokens), len(tokens) - 1) if (
            self._prefix_cache) else 0
        self._lib.llama_memory_seq_rm(self._mem, self._holder, common, -1)
        self._held = tokens
        self.prompt_tokens_evaluated += len(tokens) - common
        for start in range(common, len(tokens), self._n_batch):
            chunk = tokens[start: start + self._n_batch]
            last = start + len(chunk) == len(tokens)
            self._fill([(tok, start + k, self._holder, last and k == len(chunk) - 1)
                        for k, tok in enumerate(chunk)])
            self._decode()
        last_index = (len(tokens) - 1 - common) % self._n_batch  # in the last chunk
        finished = []
        now = time.perf_counter()
        for j in range(params.n):
            seq = _Live(request=index, sample=j, sampler=self._sampler(params, params.seed + j),
                        token=-1, pos=len(tokens) - 1, started=now)
            token = int(self._lib.llama_sampler_sample(seq.sampler, self._ctx, last_index))
            output = self._advance(seq, token, req)
            if output is None:
                waiting.append(seq)
            else:
                finished.append((seq, output))
        return finished

    def _sampler(self, params: SamplingParams, seed: int) -> Any:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if params.temperature == 0.0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(params.top_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(params.temperature))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    # -- one decoding step -----------------------------------------------------------------

    def _step(self, live: dict[int, _Live],
              requests: Sequence[Request]) -> list[tuple[_Live, GenerationOutput]]:
        """Decode every live sample's next token in one batch; the samples that finished
        leave their slots."""
        order = sorted(live)
        self._fill([(live[s].token, live[s].pos, s, True) for s in order])
        self._decode()
        finished = []
        for index, slot in enumerate(order):
            seq = live[slot]
            token = int(self._lib.llama_sampler_sample(seq.sampler, self._ctx, index))
            output = self._advance(seq, token, requests[seq.request])
            if output is not None:
                del live[slot]
                self._lib.llama_memory_seq_rm(self._mem, slot, -1, -1)
                finished.append((seq, output))
        return finished

    def _advance(self, seq: _Live, token: int, req: Request) -> GenerationOutput | None:
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            return _output(seq, "stop")
        seq.tokens += 1
        before = len(seq.text)
        seq.text += self._token_bytes(token)
        cut = stop_cut(seq.text, req.stop, before)
        if cut is not None:
            del seq.text[cut:]
            return _output(seq, "stop")
        if seq.tokens >= req.max_tokens:
            return _output(seq, "length")
        seq.token, seq.pos = token, seq.pos + 1
        return None

    def _token_bytes(self, token: int) -> bytes:
        size = self._lib.llama_token_to_piece(self._vocab, token, self._piece,
                                              len(self._piece), 0, False)
        if size < 0:
            self._piece = ctypes.create_string_buffer(-size)
            size = self._lib.llama_token_to_piece(self._vocab, token, self._piece,
                                                  len(self._piece), 0, False)
        return bytes(self._piece.raw[:size])

    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        for k, (token, pos, seq_id, logits) in enumerate(entries):
            batch.token[k] = token
            batch.pos[k] = pos
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = seq_id
            batch.logits[k] = logits
        batch.n_tokens = len(entries)

    def _decode(self) -> None:
        status = self._lib.llama_decode(self._ctx, self._batch)
        if status != 0:
            raise BackendError(f"llama_decode failed (status {status}) in the batched "
                               "decoder: lower the llamacpp option n_parallel, or use "
                               "decode=sequential")


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _output(seq: _Live, reason: str) -> GenerationOutput:
    return GenerationOutput(text=bytes(seq.text).decode("utf-8", errors="ignore"),
                            finish_reason=reason, tokens=seq.tokens,
                            latency_s=time.perf_counter() - seq.started)
