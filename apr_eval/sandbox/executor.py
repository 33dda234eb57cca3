"""The Executor plug-in point, its registry, and the fake used by pipeline tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from apr_eval.core import (
    Check,
    Execution,
    GroupEnd,
    GroupResult,
    Outcome,
    OutcomeKind,
    SandboxLimits,
)
from apr_eval.registry import Registry


class Executor(Protocol):
    """Runs checks in isolation and yields exactly one Execution per check, in any order."""

    name: str

    def run(self, checks: Iterable[Check], limits: SandboxLimits) -> Iterator[Execution]: ...

    @property
    def image_digest(self) -> str: ...


EXECUTORS: Registry[type[Executor]] = Registry(
    "executor",
    {
        "docker": "apr_eval.sandbox.docker_executor:DockerExecutor",
        "fake": "apr_eval.sandbox.executor:FakeExecutor",
        "ray": "apr_eval.sandbox.ray_executor:RayExecutor",
        "wasm": "apr_eval.sandbox.wasm_executor:WasmExecutor",
    },
)

Script = Callable[[Check], Sequence[GroupResult]]


def all_returned(values: Sequence[object]) -> tuple[Outcome, ...]:
    return tuple(Outcome(OutcomeKind.RETURNED, v) for v in values)


class FakeExecutor:
    """Runs nothing: a script maps each check to the group results the sandbox 'reported'.

    The host-side judge still runs, so pipeline tests exercise the real verdict logic.
    The default script reports every group as crashed (-> ERROR).
    """

    name = "fake"

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or (
            lambda check: [GroupResult(g.name, (), GroupEnd.CRASHED) for g in check.job.groups]
        )
        self.seen: list[Check] = []

    @property
    def image_digest(self) -> str:
        return "fake"

    def run(self, checks: Iterable[Check], limits: SandboxLimits) -> Iterator[Execution]:
        for check in checks:
            self.seen.append(check)
            yield check.judge(self.script(check))
