"""One sandbox container: create it locked down, stream a batch in, stream records out.

Everything untrusted happens on the far side of this module. The host enforces the limits that
matter from outside: the container's wall clock (a group that overstays its budget by more than
``GRACE_S`` gets the container killed), the bytes it may print, memory (the engine's
``OOMKilled``), and it only ever *parses* what comes back.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from apr_eval.core import SandboxLimits

GRACE_S = 5.0  # beyond a group's own budget before the host kills the container
READY_S = 30.0  # container start until the runner says it is ready
MAX_LINE = 256 << 20
STDOUT, STDERR = 1, 2


@dataclass
class Stream:
    """What came back from one container."""

    records: list[dict[str, Any]] = field(default_factory=list)
    stderr: bytes = b""
    killed_for: str = ""  # "", "deadline", "output_limit"
    oom_killed: bool = False
    exit_code: int | None = None
    error: str = ""  # infrastructure problem, if any
    broken: str = ""  # the record stream broke its protocol: every verdict of it is void


def host_config(client: Any, limits: SandboxLimits) -> Any:
    from docker.types import LogConfig, Ulimit

    return client.api.create_host_config(
        network_mode="none",
        mem_limit=f"{limits.memory_mb}m",
        memswap_limit=f"{limits.memory_mb}m",  # swap equal to the cap: no swap
        pids_limit=limits.pids,
        nano_cpus=int(limits.cpus * 1e9),
        read_only=True,
        tmpfs={"/tmp": f"size={limits.tmpfs_mb}m,mode=1777"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        log_config=LogConfig(type="none"),
        ulimits=[Ulimit(name="core", soft=0, hard=0)],
        ipc_mode="private",
    )


class StreamBroken(Exception):
    """The container's records left the protocol (see ``Deadlines``)."""


class Deadlines:
    """The host's clock on a running batch, and the protocol the records must follow:
    ``ready``, then for every (job, group) the host sent, in its order, ``begin`` and one
    ``group`` record for exactly that pair, then ``done``, and nothing else. The deadline of a
    group is the host's own budget for the pair it expects next; nothing in a record extends
    it. Any other record raises StreamBroken."""

    def __init__(self, budgets: dict[tuple[str, str], float]) -> None:
        self.budgets = budgets
        self.order = list(budgets)
        self.pos = 0
        self.count = 0
        self.running = False
        self.finished = False
        self.current = time.monotonic() + READY_S

    def on_record(self, record: dict[str, Any]) -> None:
        kind, self.count = record.get("t"), self.count + 1
        key = (record.get("job"), record.get("group"))
        expected = self.order[self.pos] if self.pos < len(self.order) else None
        if self.finished or (kind == "ready") != (self.count == 1):
            raise StreamBroken(f"record {self.count} ({str(kind)[:20]}) out of place")
        if kind == "begin" and not self.running and key == expected:
            self.running = True
            self.current = time.monotonic() + self.budgets[key] + GRACE_S
        elif kind == "group" and self.running and key == expected:
            self.running, self.pos = False, self.pos + 1
            self.current = time.monotonic() + READY_S
        elif kind == "done" and not self.running and expected is None:
            self.finished = True
        elif kind != "ready":
            raise StreamBroken(f"record {self.count} ({str(kind)[:20]}) out of place")

    def remaining(self) -> float:
        return self.current - time.monotonic()


class _Reader:
    """Demultiplexes Docker's attach stream (8-byte frame headers) under a deadline."""

    def __init__(self, sock: socket.socket, deadlines: Deadlines, max_bytes: int) -> None:
        self.sock, self.deadlines, self.max_bytes = sock, deadlines, max_bytes
        self.total = 0
        self.parts: list[bytes] = []  # the unfinished line, in pieces (no quadratic joins)
        self.pending = 0

    def _recv_exact(self, n: int) -> bytes | None:
        chunks: list[bytes] = []
        while n > 0:
            remaining = self.deadlines.remaining()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(min(remaining, 1.0))
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except TimeoutError:
                continue
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def frames(self) -> Any:
        while True:
            header = self._recv_exact(8)
            if header is None:
                return
            kind, size = header[0], struct.unpack(">I", header[4:])[0]
            self.total += size
            if self.total > self.max_bytes:
                raise OverflowError
            body = self._recv_exact(size)
            if body is None:
                return
            yield kind, body


def stream_batch(client: Any, image: str, payload: bytes, limits: SandboxLimits,
                 budgets: dict[tuple[str, str], float], max_bytes: int) -> Stream:
    """Run one batch in a fresh container and collect its records. Always removes it."""
    out = Stream()
    container = client.api.create_container(
        image, user="65534:65534", stdin_open=True, environment={}, use_config_proxy=False,
        network_disabled=True, working_dir="/opt/apr", labels={"apr-eval": "sandbox"},
        host_config=host_config(client, limits))
    cid = container["Id"]
    try:
        _converse(client, cid, payload, budgets, max_bytes, out)
    finally:
        _finish(client, cid, out)
    return out


def _converse(client: Any, cid: str, payload: bytes, budgets: dict[tuple[str, str], float],
              max_bytes: int, out: Stream) -> None:
    attach = client.api.attach_socket(
        cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    sock: socket.socket = attach._sock
    deadlines = Deadlines(budgets)
    try:
        client.api.start(cid)
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        reader = _Reader(sock, deadlines, max_bytes)
        for kind, body in reader.frames():
            if kind == STDERR:
                out.stderr = (out.stderr[-4000:] + body[-4000:])[-4000:]
                continue
            _take_lines(reader, body, deadlines, out)
    except StreamBroken as exc:
        out.broken = str(exc)
    except TimeoutError:
        out.killed_for = "deadline"
    except OverflowError:
        out.killed_for = "output_limit"
    except OSError as exc:
        out.error = f"attach stream broke: {exc}"
    finally:
        sock.close()


def _take_lines(reader: _Reader, body: bytes, deadlines: Deadlines, out: Stream) -> None:
    if b"\n" not in body:
        reader.parts.append(body)
        reader.pending += len(body)
        if reader.pending > MAX_LINE:
            raise OverflowError
        return
    *lines, rest = b"".join([*reader.parts, body]).split(b"\n")
    reader.parts, reader.pending = ([rest], len(rest)) if rest else ([], 0)
    for line in lines:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise StreamBroken(f"unreadable record ({type(exc).__name__})") from None
        if not isinstance(record, dict):
            raise StreamBroken("a record that is not an object")
        out.records.append(record)
        deadlines.on_record(record)


def _finish(client: Any, cid: str, out: Stream) -> None:
    import docker

    if out.killed_for or out.error or out.broken:
        try:
            client.api.kill(cid)
        except docker.errors.APIError:
            pass  # already gone
    try:
        result = client.api.wait(cid, timeout=30)
        out.exit_code = int(result.get("StatusCode", -1))
        state = client.api.inspect_container(cid)["State"]
        out.oom_killed = bool(state.get("OOMKilled"))
    except (docker.errors.DockerException, OSError, ValueError) as exc:
        out.error = out.error or f"engine: {exc}"
    finally:
        try:
            client.api.remove_container(cid, force=True)
        except docker.errors.APIError:
            pass
