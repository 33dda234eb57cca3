"""Rich progress bars for the pipeline stages (generation: tokens/s + ETA; execution: pass rate)."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from apr_eval.core import Completion, Execution


class RichProgress:
    """Implements ``apr_eval.harness.run.progress.Progress`` on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bars = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._task: TaskID | None = None
        self._stage = ""
        self._tokens = 0
        self._t0 = 0.0
        self._done = 0
        self._passed = 0

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bars.stop()

    def start(self, stage: str, total: int, done: int) -> None:
        self._stage, self._tokens, self._done, self._passed = stage, 0, 0, 0
        self._t0 = time.monotonic()
        self._task = self._bars.add_task(stage, total=total, completed=done, info="")
        if done:
            self.note(f"{stage}: {done}/{total} sample(s) already done, continuing")

    def completion(self, completion: Completion) -> None:
        self._tokens += completion.tokens
        rate = self._tokens / max(time.monotonic() - self._t0, 1e-9)
        self._advance(f"{rate:6.1f} tok/s")

    def execution(self, execution: Execution) -> None:
        self._done += 1
        self._passed += execution.verdict.passed
        self._advance(f"pass {self._passed}/{self._done} ({self._passed / self._done:.0%})")

    def _advance(self, info: str) -> None:
        if self._task is not None:
            self._bars.update(self._task, advance=1, info=info)

    def note(self, message: str) -> None:
        self._bars.console.print(message, highlight=False, soft_wrap=True)
