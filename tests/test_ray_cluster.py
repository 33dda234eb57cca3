"""Acceptance on a real two-node Ray cluster (both nodes on this machine, separate processes).

A head and a worker node are started with ``ray start --block`` (each one offers one ``docker``
slot); HumanEval+ v0.1.9 samples of Qwen2.5-Coder-1.5B run through the Ray executor and must get
exactly the verdicts of the local DockerExecutor. Then the worker node's raylet is SIGKILLed
while it runs a batch: the run still ends with one verdict per sample, identical again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from apr_eval.core import Check, Execution, SandboxLimits

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'apr-eval[ray]'")
psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]

REPO = Path(__file__).resolve().parents[1]
SAMPLES = "samples/evalplus/qwen2.5-coder-1.5b-base/humaneval/generated.jsonl"
TASKS = 12
LIMITS = SandboxLimits(workers=1, batch_size=2)


# A throwaway cluster: no token (Ray turns it on when ~/.ray/auth_token exists), no telemetry.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    proc: subprocess.Popen[bytes]
    node_manager_port: int
    log: Path

    def raylet(self) -> Any:
        """This node's raylet process (found by the node-manager port only it uses)."""
        flag = f"--node_manager_port={self.node_manager_port}"
        for p in psutil.process_iter(["name", "cmdline"]):
            if "raylet" in (p.info["name"] or "") and flag in (p.info["cmdline"] or []):
                return p
        return None


@dataclass
class Cluster:
    address: str
    temp_dir: str
    nodes: list[Node] = field(default_factory=list)


def ports() -> list[str]:
    low = free_port()
    return ["--object-manager-port", str(free_port()), "--metrics-export-port",
            str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()), "--runtime-env-agent-port",
            str(free_port()), "--min-worker-port", str(low), "--max-worker-port", str(low + 40)]


def start_node(cluster: Cluster, head: bool, log: Path) -> Node:
    nm = free_port()
    ray_bin = str(Path(sys.executable).parent / "ray")
    cmd = [ray_bin, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
           "--resources", json.dumps({"docker": 1}), "--object-store-memory", "100000000",
           "--node-manager-port", str(nm), "--disable-usage-stats", *ports()]
    if head:
        cmd += ["--head", "--port", cluster.address.rsplit(":", 1)[1],
                "--include-dashboard=false", "--temp-dir", cluster.temp_dir]
    else:
        cmd += ["--address", cluster.address]
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    node = Node(proc, nm, log)
    cluster.nodes.append(node)
    deadline = time.monotonic() + 300
    while node.raylet() is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"ray start failed: {log.read_text()[-2000:]}")
        time.sleep(1)
    return node


def stop(cluster: Cluster) -> None:
    """SIGTERM our own `ray start --block` processes (each stops its node), then stragglers."""
    for node in cluster.nodes:
        if node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
    for node in cluster.nodes:
        try:
            node.proc.wait(60)
        except subprocess.TimeoutExpired:
            node.proc.kill()
    mine = [p for p in psutil.process_iter(["cmdline"])
            if any(cluster.temp_dir in a or cluster.address in a
                   for a in (p.info["cmdline"] or []))]
    for p in mine:
        try:
            p.kill()
        except psutil.Error:
            pass


def alive_nodes() -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n["Alive"]]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("ray-logs")
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Unix socket paths
    c = Cluster(f"127.0.0.1:{free_port()}", temp_dir)
    env = pytest.MonkeyPatch()
    for key, value in RAY_ENV.items():
        env.setenv(key, value)
    try:
        start_node(c, True, logs / "head.log")
        start_node(c, False, logs / "worker.log")
        ray.init(address=c.address, logging_level=logging.WARNING, log_to_driver=False)
        deadline = time.monotonic() + 120
        while len(alive_nodes()) < 2:
            assert time.monotonic() < deadline, "the worker node never joined"
            time.sleep(1)
        yield c
    finally:
        ray.shutdown()
        stop(c)
        env.undo()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def checks(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Check]:
    from apr_eval.benchmarks.base import open_benchmark
    from apr_eval.harness.interop.evaluate import load_samples
    from apr_eval.harness.run.execution import Program, build_checks

    lines = (shared_data / SAMPLES).read_text().splitlines()[:TASKS]
    path = tmp_path_factory.mktemp("samples") / "he.jsonl"
    path.write_text("\n".join(lines) + "\n")
    bench = open_benchmark("humaneval", "v0.1.9")
    samples = load_samples(bench, path, allow_missing=True)
    programs = [Program(s.problem_id, s.sample_index, s.code) for s in samples]
    return build_checks(bench, programs, LIMITS)


def summary(executions: list[Execution]) -> dict[tuple[str, int], Any]:
    keys = [(e.problem_id, e.sample_index) for e in executions]
    assert len(keys) == len(set(keys)), "more than one verdict for a sample"
    return {(e.problem_id, e.sample_index): (e.verdict, dict(e.group_verdicts), e.failing)
            for e in executions}


@pytest.fixture(scope="module")
def local(checks: list[Check]) -> dict[tuple[str, int], Any]:
    from apr_eval.sandbox.docker_executor import DockerExecutor

    got = summary(list(DockerExecutor().run(checks, LIMITS)))
    assert len(got) == TASKS
    assert {v[0] for v in got.values()} >= {"passed", "failed"}  # a real mix, not all alike
    return got


def head_id(cluster: Cluster) -> str:
    return str(ray.get_runtime_context().get_node_id())


def test_two_nodes_give_the_local_verdicts(cluster: Cluster, checks: list[Check],
                                           local: dict[tuple[str, int], Any]) -> None:
    from apr_eval.sandbox.docker_executor import DockerExecutor
    from apr_eval.sandbox.ray_executor import RayExecutor

    executor = RayExecutor()
    assert executor.image_digest == DockerExecutor().image_digest
    got = summary(list(executor.run(checks, LIMITS)))
    assert got == local
    # both nodes ran batches: the work really was spread over the cluster
    assert len(executor.batches_by_node) == 2, executor.batches_by_node
    assert executor.lost_tasks == 0


def busy_on(node: Node) -> bool:
    """A Ray worker of this node is executing a batch right now."""
    raylet = node.raylet()
    return raylet is not None and any(
        "ray::run_payload" in " ".join(c.cmdline()) for c in raylet.children())


def test_worker_raylet_killed_mid_run(cluster: Cluster, checks: list[Check],
                                      local: dict[tuple[str, int], Any]) -> None:
    from apr_eval.sandbox.ray_executor import RayExecutor

    worker = cluster.nodes[1]
    raylet = worker.raylet()
    assert raylet is not None and len(alive_nodes()) == 2
    executor = RayExecutor()
    out: list[Execution] = []
    killed_while_busy = threading.Event()

    def killer() -> None:
        """Once verdicts flow, SIGKILL the worker's raylet while it runs a batch."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if out and busy_on(worker):
                # kill at once: asking busy_on again could see the batch just finished
                raylet.send_signal(signal.SIGKILL)
                killed_while_busy.set()
                return
            time.sleep(0.02)
        raylet.send_signal(signal.SIGKILL)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    for execution in executor.run(checks, LIMITS):  # the driver keeps going meanwhile
        out.append(execution)
    thread.join(60)
    assert killed_while_busy.is_set(), "the worker node was not running a batch when killed"
    assert summary(out) == local
    deadline = time.monotonic() + 120
    while len(alive_nodes()) > 1 and time.monotonic() < deadline:
        time.sleep(1)
    assert [n["NodeID"] for n in alive_nodes()] == [head_id(cluster)]
