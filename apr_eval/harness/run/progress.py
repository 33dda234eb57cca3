"""What the stages report (the CLI draws bars from it) and what each stage returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from apr_eval.core import Completion, Execution


class Progress(Protocol):
    """What the stages report; the CLI draws bars from it. Library code never prints."""

    def start(self, stage: str, total: int, done: int) -> None: ...

    def completion(self, completion: Completion) -> None: ...

    def execution(self, execution: Execution) -> None: ...

    def note(self, message: str) -> None: ...


class NullProgress:
    def start(self, stage: str, total: int, done: int) -> None:
        return None

    def completion(self, completion: Completion) -> None:
        return None

    def execution(self, execution: Execution) -> None:
        return None

    def note(self, message: str) -> None:
        return None


@dataclass(frozen=True)
class StageStats:
    done_before: int  # samples already finished when the stage started
    done_now: int  # samples finished by this call
    total: int
    tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0
