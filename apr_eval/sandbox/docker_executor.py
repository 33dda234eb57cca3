"""The Docker executor: batches of samples, one locked-down container per batch.

Batched mode (default, ``SandboxLimits.batch_size`` samples per container): each test group of
each sample runs in its own freshly forked process with its own fresh working directory,
per-input time limits, its own printed-bytes cap, and after it ends *every* other process in the
container is killed (the runner is PID 1). The runner is out of the samples' reach (see
lockdown.py) and the host checks the record stream's structure (container.Deadlines): a stream
that leaves it voids the container's verdicts and its samples are re-run one per container.
What batching does not isolate: the samples of one batch share a container and a memory cap.
Strict mode (``batch_size=1``) gives every sample its own container.

Exactly one Execution per check, always: a batch that dies for infrastructure reasons is
retried (tenacity for engine calls, then fresh containers for the samples not yet judged), and a
sample that still has no verdict gets INFRA_ERROR. A timeout is confirmed by a second run.
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from apr_eval.core import (
    Check,
    Execution,
    GroupEnd,
    GroupResult,
    Outcome,
    OutcomeKind,
    SampleKey,
    SandboxLimits,
    TestGroup,
    Verdict,
)
from apr_eval.sandbox import codec, engine
from apr_eval.sandbox.container import Stream, stream_batch

RETRIES = 2  # extra containers for samples whose batch died for infrastructure reasons
RESULT_BYTES = 64 << 20  # reported outcome bytes per group before OUTPUT_LIMIT


class _EngineHiccup(Exception):
    pass


class DockerExecutor:
    name = "docker"

    def __init__(self, image: str | None = None, client: Any = None) -> None:
        self._client = client if client is not None else engine.connect()
        from apr_eval.sandbox.image import image_tag

        self.image = image or image_tag()
        self._digest = engine.image_id(self._client, self.image)

    @property
    def image_digest(self) -> str:
        return self._digest

    def run(self, checks: Iterable[Check], limits: SandboxLimits) -> Iterator[Execution]:
        batches = plan_batches(list(checks), limits.batch_size)
        with ThreadPoolExecutor(max(1, limits.workers)) as pool:
            futures: list[Future[list[Execution]]] = [
                pool.submit(self.run_batch, b, limits) for b in batches]
            for fut in as_completed(futures):
                yield from fut.result()

    def run_batch(self, batch: Sequence[Check], limits: SandboxLimits) -> list[Execution]:
        """Judge every check of the batch; retry infrastructure losses in new containers and
        confirm every timeout with a second run (see ``confirm_timeouts``)."""
        done = self._judge_all(batch, limits)
        if not limits.confirm_timeouts:
            return done
        return confirm_timeouts(batch, done, lambda checks: self._judge_all(checks, limits))

    def _judge_all(self, batch: Sequence[Check], limits: SandboxLimits) -> list[Execution]:
        done, pending, why = self._one_container(batch, limits)
        for _attempt in range(RETRIES):
            # Retry one sample per container: a sample that takes its container down
            # cannot take innocent neighbours with it again.
            still: list[Check] = []
            for check in pending:
                finished, lost, why = self._one_container([check], limits)
                done.extend(finished)
                still.extend(lost)
            pending = still
        done.extend(infra_error(c, why) for c in pending)
        return done

    def _one_container(self, checks: Sequence[Check], limits: SandboxLimits
                       ) -> tuple[list[Execution], list[Check], str]:
        payload, budgets = encode_batch(checks, limits)
        return settle(checks, self.stream(payload, limits, budgets))

    def stream(self, payload: bytes, limits: SandboxLimits,
               budgets: dict[tuple[str, str], float]) -> Stream:
        """One container for an encoded batch (engine hiccups retried); infra loss -> error.

        The only part of a batch that needs the engine: the Ray executor calls it on the node.
        """
        try:
            return self._stream(payload, limits, budgets)
        except _EngineHiccup as exc:
            return Stream(error=str(exc))

    @retry(retry=retry_if_exception_type(_EngineHiccup), stop=stop_after_attempt(3),
           wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
    def _stream(self, payload: bytes, limits: SandboxLimits,
                budgets: dict[tuple[str, str], float]) -> Stream:
        import docker
        import requests

        try:
            return stream_batch(self._client, self.image, payload, limits, budgets,
                                max_bytes=RESULT_BYTES * max(1, len(budgets)))
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise _EngineHiccup(f"engine error: {exc}") from None


CLEAR_TIMEOUT = 20.0  # a sample over this many times the canonical CPU time is slow by itself


def doubtful_timeout(check: Check, execution: Execution) -> bool:
    """Whether a TIMEOUT needs a second, fresh run to stand.

    Per-input limits are a few times the canonical solution's CPU time, and on a shared
    machine CPU time itself stretches with load (memory-bound code most), so one timeout can
    be the machine's, not the sample's. Not so where the limit (the floor) is
    ``CLEAR_TIMEOUT`` times the canonical solution's own time or more: no load stretches CPU
    time that far. A group's wall-clock deadline is always doubted.
    """
    if execution.verdict is not Verdict.TIMEOUT:
        return False
    failing = execution.failing
    if failing is None or failing.reason != "time limit":
        return True
    group = next((g for g in check.job.groups if g.name == failing.group), None)
    if group is None or not 0 <= failing.index < len(group.reference_times):
        return True
    reference = group.reference_times[failing.index]
    return group.time_limits[failing.index] < CLEAR_TIMEOUT * reference


def doubtful_timeouts(batch: Sequence[Check], done: Iterable[Execution]
                      ) -> dict[SampleKey, Execution]:
    """The verdicts of ``done`` (for checks of ``batch``) that are doubtful timeouts."""
    by_key = {c.job.key: c for c in batch}
    return {e.key: e for e in done if e.key in by_key and doubtful_timeout(by_key[e.key], e)}


def confirm_timeouts(batch: Sequence[Check], done: list[Execution],
                     rerun: Callable[[Sequence[Check]], list[Execution]]) -> list[Execution]:
    """A doubtful TIMEOUT (see ``doubtful_timeout``) stands only if a second, fresh run times
    out too. A sample that really hangs near its limit pays it twice."""
    doubted = doubtful_timeouts(batch, done)
    if not doubted:
        return done
    suspects = [c for c in batch if c.job.key in doubted]
    second = {e.key: e for e in rerun(suspects) if e.verdict is not Verdict.INFRA_ERROR}
    return [second.get(e.key, e) if e.verdict is Verdict.TIMEOUT else e for e in done]


def plan_batches(checks: Sequence[Check], size: int) -> list[list[Check]]:
    """Keep samples of one problem together (inputs are sent once per container)."""
    ordered = sorted(checks, key=lambda c: (c.job.key.problem_id, c.job.key.sample_index))
    size = max(1, size)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def encode_batch(checks: Sequence[Check], limits: SandboxLimits
                 ) -> tuple[bytes, dict[tuple[str, str], float]]:
    groups: dict[int, str] = {}
    group_table: dict[str, Any] = {}
    jobs = []
    budgets: dict[tuple[str, str], float] = {}
    for i, check in enumerate(checks):
        job = check.job
        refs = []
        for g in job.groups:
            gid = groups.setdefault(id(g), f"g{len(groups)}")
            if gid not in group_table:
                group_table[gid] = {"inputs": _encoded_inputs(g),
                                    "limits": list(g.time_limits), "deadline": g.budget(),
                                    "digest_over": g.digest_over,
                                    "max_weight": g.max_weight, "iterate": g.iterate_outputs,
                                    **cpu_caps(g)}
            refs.append([g.name, gid])
            budgets[(f"j{i}", g.name)] = g.budget()
        jobs.append({"id": f"j{i}", "code": job.code, "mode": job.mode.value,
                     "entry": job.entry_point, "guard": job.guard, "groups": refs})
    payload = {"groups": group_table, "jobs": jobs, "output_bytes": limits.output_bytes,
               "result_bytes": RESULT_BYTES}
    return json.dumps(payload).encode(), budgets


REPORT_FACTOR = 30.0  # reporting an output may cost this many times the canonical CPU time
CPU_SLACK_S = 0.5  # per input: encoding a moderate output, buffered earlier inputs, clock ticks
# Encoding or digesting an output walks its containers and strings: about 2 M weight units per
# CPU second in the child. The weight cap of a group (twice its heaviest expected output plus a
# fixed 1 M margin, benchmarks' WEIGHT_MARGIN) tells how heavy an honest output can be.
REPORT_S_PER_WEIGHT = 5e-7
_WEIGHT_MARGIN = 1 << 20


def cpu_caps(group: TestGroup) -> dict[str, Any]:
    """The CPU the runner allows each input, counted from outside the sample (the container's
    cgroup): its limit, plus reporting time (``REPORT_FACTOR`` x the canonical solution's time:
    digesting a 100 MB output is the harness's work, not the sample's; and in proportion to
    the group's output weight cap, as HumanEval/130's canonical solution needs), plus
    ``CPU_SLACK_S``;
    module-level code gets the largest limit (counted together with input 0)."""
    refs = list(group.reference_times) + [0.0] * len(group.time_limits)
    heavy = max(0, group.max_weight - _WEIGHT_MARGIN) * REPORT_S_PER_WEIGHT
    own = [limit + REPORT_FACTOR * ref + heavy + CPU_SLACK_S
           for limit, ref in zip(group.time_limits, refs, strict=False)]
    # Outcome lines leave the child in 20 ms batches, so quick inputs' lines can arrive only
    # after a later, heavier input ran: an input's interval may hold any later input's work
    # (one at most: a slow input's line is flushed at once). Each cap is the largest own cap
    # from that input on.
    caps = list(itertools.accumulate(reversed(own), max))[::-1]
    return {"cpu_caps": caps, "load_cap": max(group.time_limits, default=1.0)}


_ENCODED: dict[int, list[Any]] = {}
_ENCODED_LOCK = threading.Lock()


def _encoded_inputs(group: TestGroup) -> list[Any]:
    """A group's inputs encoded once while the group lives, not once per batch (N samples of
    a problem fill N/batch_size batches). Keyed by identity; the entry goes with the group."""
    with _ENCODED_LOCK:
        hit = _ENCODED.get(id(group))
    if hit is not None:
        return hit
    encoded = [codec.encode(x) for x in group.inputs]
    with _ENCODED_LOCK:
        if id(group) not in _ENCODED:
            _ENCODED[id(group)] = encoded
            weakref.finalize(group, _ENCODED.pop, id(group), None)
    return encoded


MAX_DURATION = 1e6


def _outcome(item: Any) -> Outcome:
    """One reported outcome, checked field by field (the child may have written it)."""
    if not isinstance(item, list) or len(item) != 4:
        raise codec.EncodeError("not an outcome")
    kind, value, error, duration = item
    if not isinstance(error, str) or type(duration) not in (int, float) \
            or not 0 <= duration <= MAX_DURATION:  # NaN fails too
        raise codec.EncodeError("bad outcome fields")
    return Outcome(OutcomeKind(kind), codec.decode(value), error[:2000], float(duration))


def _group_result(record: dict[str, Any], group: TestGroup) -> GroupResult:
    """A group record -> GroupResult; anything malformed (more outcomes than inputs, a value
    that does not decode, a bad field) makes the group crashed, never an exception."""
    try:
        raw = record["outcomes"]
        if not isinstance(raw, list) or len(raw) > len(group.inputs):
            raise codec.EncodeError("outcomes")
        outcomes = tuple(_outcome(o) for o in raw)
        end = GroupEnd(record["end"])
    except (KeyError, ValueError, TypeError, RecursionError, OverflowError, MemoryError):
        return GroupResult(group.name, (), GroupEnd.CRASHED, "malformed record")
    detail = record.get("detail", "")
    return GroupResult(group.name, outcomes, end, detail[:2000] if isinstance(detail, str) else "")


def _interrupted_end(stream: Stream) -> GroupEnd:
    """How the group that was running when the container went away ended."""
    if stream.oom_killed:
        return GroupEnd.OOM
    if stream.killed_for == "deadline":
        return GroupEnd.TIMEOUT
    if stream.killed_for == "output_limit":
        return GroupEnd.OUTPUT_LIMIT
    return GroupEnd.LOST


def settle(checks: Sequence[Check], stream: Stream
           ) -> tuple[list[Execution], list[Check], str]:
    """Turn a container's records into verdicts; return the checks to retry.

    A stream that broke the protocol (container.Deadlines) voids every verdict of the
    container: its samples are re-run one per container; a sample alone in a container whose
    stream broke is judged ERROR (only a sample could have broken it)."""
    if stream.broken:
        why = f"record stream broken: {stream.broken}"
        if len(checks) == 1:
            (check,) = checks
            return [judge_safely(check, [GroupResult(g.name, (), GroupEnd.CRASHED, why)
                                        for g in check.job.groups])], [], why
        return [], list(checks), why
    results, running = _read_records(checks, stream)
    finished: list[Execution] = []
    retry_: list[Check] = []
    for i, check in enumerate(checks):
        got = results.get(f"j{i}", {})
        if running is not None and running[0] == f"j{i}":
            end = _interrupted_end(stream)
            if end is not GroupEnd.LOST:
                got[running[1]] = GroupResult(running[1], (), end, "container stopped by host")
        if all(g.name in got for g in check.job.groups):
            finished.append(judge_safely(check, [got[g.name] for g in check.job.groups]))
        else:
            retry_.append(check)
    why = stream.error or f"container ended early (exit {stream.exit_code}) " \
        f"{stream.stderr.decode(errors='replace')[-300:]}".strip()
    return finished, retry_, why


def _read_records(checks: Sequence[Check], stream: Stream
                  ) -> tuple[dict[str, dict[str, GroupResult]], tuple[str, str] | None]:
    """Group results by job id, and the (job, group) running when the stream ended. Records
    naming a job or group the batch does not have are ignored (the stream's order was checked
    as it arrived)."""
    groups = {(f"j{i}", g.name): g for i, c in enumerate(checks) for g in c.job.groups}
    results: dict[str, dict[str, GroupResult]] = {}
    running: tuple[str, str] | None = None
    for record in stream.records:
        job, name = record.get("job"), record.get("group")
        group = groups.get((job, name)) if isinstance(job, str) and isinstance(name, str) \
            else None
        if group is None:
            continue
        if record.get("t") == "begin":
            running = (str(job), group.name)
        elif record.get("t") == "group":
            gr = _group_result(record, group)
            if gr.end is GroupEnd.KILLED and stream.oom_killed:
                gr = GroupResult(gr.name, gr.outcomes, GroupEnd.OOM, gr.detail)
            results.setdefault(str(job), {})[gr.name] = gr
            running = None
    return results, running


def judge_safely(check: Check, results: list[GroupResult]) -> Execution:
    """The check's judge on reported results; a judge that fails on what the sample reported
    (a value no comparison can take) makes that sample's verdict ERROR, never the run's end."""
    try:
        return check.judge(results)
    except (ArithmeticError, LookupError, ValueError, TypeError, AttributeError, RecursionError,
            MemoryError) as exc:  # what a value can raise; an ImportError is the host's own
        why = f"judging failed: {type(exc).__name__}"
        return Execution(
            problem_id=check.job.key.problem_id, sample_index=check.job.key.sample_index,
            verdict=Verdict.ERROR, group_verdicts={g.name: Verdict.ERROR for g in check.job.groups},
            detail=why)


def infra_error(check: Check, why: str) -> Execution:
    return Execution(
        problem_id=check.job.key.problem_id,
        sample_index=check.job.key.sample_index,
        verdict=Verdict.INFRA_ERROR,
        group_verdicts={g.name: Verdict.INFRA_ERROR for g in check.job.groups},
        detail=why[:2000],
    )
