"""The Ray executor: the Docker sandbox's batches as Ray tasks on every node with an engine.

Split exactly where trust splits. The driver (this process) plans and encodes batches with the
local executor's own functions (``plan_batches``, ``encode_batch``); a Ray task on a node that
offers the custom resource ``docker`` runs one container for the encoded batch through
``DockerExecutor.stream`` (the same container code, limits and host-side deadlines as a local
run) and returns the raw ``Stream`` of records. Verdicts are made back on the driver by
``settle``, i.e. by each check's judge: expected outputs never leave the driver, only Jobs do.

Fault tolerance, two layers: Ray re-runs a task whose worker or node died (``max_retries``), and
the driver applies the local executor's own policy to whatever still has no verdict (the whole
batch once, then each sample alone in ``RETRIES`` more containers, then ``infra_error``). If no
node with the ``docker`` resource is left for ``STRANDED_S``, everything outstanding becomes
``infra_error``: a run always ends with exactly one verdict per sample.

Nodes: ``ray start --address HEAD --resources='{"docker": N}'`` with N = containers at once on
that node, apr-eval installed and the *same* sandbox image loaded (checked on every node).
Without an address (``--ray-address`` / ``APR_EVAL_RAY_ADDRESS``) a local Ray is started and
``SandboxLimits.workers`` containers run at once, as with the local executor.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from apr_eval.core import Check, Execution, SampleKey, SandboxLimits, Verdict
from apr_eval.errors import AprEvalError, SandboxUnavailable, UsageError
from apr_eval.sandbox.container import Stream
from apr_eval.sandbox.docker_executor import (
    RETRIES,
    DockerExecutor,
    doubtful_timeouts,
    encode_batch,
    infra_error,
    plan_batches,
    settle,
)

RESOURCE = "docker"  # custom Ray resource: one unit per concurrent sandbox container
RAY_RETRIES = 3  # Ray re-runs of a task whose worker or node died
POLL_S = 2.0
STRANDED_S = 120.0  # no node offers RESOURCE for this long: outstanding samples -> infra_error
PROBE_S = 120.0
LOCAL_SLOTS = 1024  # local Ray: the resource is not the limit, SandboxLimits.workers is
INSTALL_HINT = "the ray executor needs Ray: pip install 'apr-eval[ray]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


# ---------------------------------------------------------------- node side (inside Ray tasks)

_NODE_EXECUTORS: dict[str, DockerExecutor] = {}


def _node_executor(image: str) -> DockerExecutor:
    """This node's DockerExecutor (one engine connection per Ray worker process)."""
    if image not in _NODE_EXECUTORS:
        _NODE_EXECUTORS[image] = DockerExecutor(image)
    return _NODE_EXECUTORS[image]


def _node_id() -> str:
    return str(import_ray().get_runtime_context().get_node_id())


def node_image(image: str) -> tuple[str, str, str]:
    """(node id, image digest, problem) for the sandbox image on the node this runs on."""
    try:
        return _node_id(), _node_executor(image).image_digest, ""
    except AprEvalError as exc:
        return _node_id(), "", str(exc)


def run_payload(image: str, digest: str, payload: bytes, limits: SandboxLimits,
                budgets: dict[tuple[str, str], float]) -> tuple[str, Stream]:
    """One container for an encoded batch, exactly as the local executor runs it.

    Receives only the encoded Jobs (programs and inputs); returns the node id and the raw
    records. Infrastructure problems come back as ``Stream.error``, never as exceptions.
    """
    node = _node_id()
    try:
        executor = _node_executor(image)
    except AprEvalError as exc:
        return node, Stream(error=f"node {node[:12]}: {exc}")
    if executor.image_digest != digest:
        return node, Stream(error=f"node {node[:12]} has image {executor.image_digest[:19]}, "
                                  f"not {digest[:19]}")
    return node, executor.stream(payload, limits, budgets)


# ---------------------------------------------------------------- driver side


@dataclass
class _Attempt:
    checks: list[Check]
    number: int  # 0: the planned batch; 1..RETRIES: one sample per container
    # A timeout-confirmation run (as the local executor's confirm_timeouts): the first verdicts
    first: dict[SampleKey, Execution] | None = None


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, image: str | None = None) -> None:
        from apr_eval.sandbox.image import image_tag
        from apr_eval.settings import load_settings

        self._ray = import_ray()
        address = address or load_settings().ray_address
        # A local Ray started here: SandboxLimits.workers containers at once. Otherwise (an
        # address, or Ray already initialised by the caller) the cluster's slots decide.
        self._local = False
        if not self._ray.is_initialized():
            quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
            if address:
                self._ray.init(address=address, **quiet)
            else:
                self._ray.init(address="local", resources={RESOURCE: LOCAL_SLOTS},
                               include_dashboard=False, **quiet)
                self._local = True
        self.image = image or image_tag()
        self._digest = self._probe_nodes()
        self._remote = self._ray.remote(run_payload).options(
            resources={RESOURCE: 1}, num_cpus=0, max_retries=RAY_RETRIES,
            retry_exceptions=False, scheduling_strategy="SPREAD")  # not where the payload is
        self.batches_by_node: Counter[str] = Counter()  # completed Ray tasks per node id
        self.lost_tasks = 0  # tasks Ray gave up on (after its own retries)
        self.tasks_done = 0
        self.driver_seconds = 0.0  # encoding and judging here: the serial part of a run

    @property
    def image_digest(self) -> str:
        return self._digest

    def _docker_nodes(self) -> list[str]:
        return [str(n["NodeID"]) for n in self._ray.nodes()
                if n.get("Alive") and n.get("Resources", {}).get(RESOURCE, 0) > 0]

    def _probe_nodes(self) -> str:
        """The sandbox image digest, the same on every node offering the resource."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = self._docker_nodes()
        if not nodes:
            raise SandboxUnavailable(
                f"no Ray node offers the '{RESOURCE}' resource; start nodes with "
                f"ray start --resources='{{\"{RESOURCE}\": N}}'")
        probe = self._ray.remote(node_image)
        refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            node, soft=False)).remote(self.image) for node in nodes]
        found = self._ray.get(refs, timeout=PROBE_S)
        problems = [f"node {n[:12]}: {why}" for n, _, why in found if why]
        if problems:
            raise SandboxUnavailable(problems[0])
        digests: set[str] = {str(d) for _, d, _ in found}
        if len(digests) != 1:
            raise SandboxUnavailable(
                f"Ray nodes have different sandbox images for {self.image} "
                f"({', '.join(sorted(d[:19] for d in digests))}); build it once and "
                "`docker save | docker load` it on every node")
        return digests.pop()

    def _window(self, limits: SandboxLimits) -> int:
        """Tasks in flight: the local worker count, or every slot of the cluster plus a few."""
        if self._local:
            return max(1, limits.workers)
        slots = int(self._ray.cluster_resources().get(RESOURCE, 0))
        return max(1, slots + slots // 4)

    def _submit(self, attempt: _Attempt, limits: SandboxLimits) -> Any:
        start = time.perf_counter()
        payload, budgets = encode_batch(attempt.checks, limits)
        ref = self._remote.remote(self.image, self._digest, payload, limits, budgets)
        self.driver_seconds += time.perf_counter() - start
        return ref

    def _fetch(self, ref: Any) -> Stream:
        try:
            node, stream = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            self.lost_tasks += 1
            text = str(exc).strip().splitlines()
            return Stream(error=f"ray task lost: {type(exc).__name__}: "
                                f"{text[0][:300] if text else ''}")
        self.batches_by_node[str(node)] += 1
        return stream  # type: ignore[no-any-return]

    def run(self, checks: Iterable[Check], limits: SandboxLimits) -> Iterator[Execution]:
        queue = deque(_Attempt(b, 0) for b in plan_batches(list(checks), limits.batch_size))
        flying: dict[Any, _Attempt] = {}
        quiet_since = time.monotonic()
        try:
            while queue or flying:
                window = self._window(limits)
                while queue and len(flying) < window:
                    attempt = queue.popleft()
                    flying[self._submit(attempt, limits)] = attempt
                ready, _ = self._ray.wait(list(flying), num_returns=1, timeout=POLL_S)
                if not ready:
                    if time.monotonic() - quiet_since > STRANDED_S and not self._docker_nodes():
                        yield from _strand(queue, flying)
                        return
                    continue
                quiet_since = time.monotonic()
                for ref in ready:
                    attempt = flying.pop(ref)
                    start = time.perf_counter()
                    done = list(self._settle(attempt, self._fetch(ref), queue,
                                             limits.confirm_timeouts))
                    self.driver_seconds += time.perf_counter() - start
                    self.tasks_done += 1
                    yield from done
        finally:
            for ref in flying:
                self._ray.cancel(ref)

    @staticmethod
    def _settle(attempt: _Attempt, stream: Stream, queue: deque[_Attempt],
                confirm: bool = True) -> Iterator[Execution]:
        """Judge on the driver; the local executor's retry policy for what is left, and its
        timeout confirmation (a TIMEOUT stands only if a second fresh run times out too)."""
        finished, lost, why = settle(attempt.checks, stream)
        if attempt.first is not None:
            again = {e.key: e for e in finished if e.verdict is not Verdict.INFRA_ERROR}
            yield from (again.get(c.job.key, attempt.first[c.job.key]) for c in attempt.checks)
            return
        timeouts = doubtful_timeouts(attempt.checks, finished) if confirm else {}
        yield from (e for e in finished if e.key not in timeouts)
        if timeouts:
            queue.append(_Attempt([c for c in attempt.checks if c.job.key in timeouts],
                                  attempt.number, dict(timeouts)))
        if attempt.number < RETRIES:
            queue.extendleft(_Attempt([c], attempt.number + 1) for c in lost)
        else:
            yield from (infra_error(c, why) for c in lost)


def _strand(queue: Sequence[_Attempt], flying: dict[Any, _Attempt]) -> Iterator[Execution]:
    why = f"no Ray node with the '{RESOURCE}' resource left for {STRANDED_S:.0f}s"
    for attempt in [*queue, *flying.values()]:
        yield from (infra_error(c, why) for c in attempt.checks)
