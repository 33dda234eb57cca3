"""Opening the results database: one writer at a time, any number of read-only readers.

DuckDB lets one process write a file or many processes read it, never both. So the writer
never writes the live file: under a lock file it copies the database, applies its changes in
one transaction on the copy, checkpoints, and renames the copy over the original. Readers that
are open keep the old file (and every run in it, whole); the next reader sees the new one. A
run is therefore visible all-or-nothing, and readers never wait for or block an ingest.

Readers must keep connections short (open, query, close): DuckDB caches one database instance
per path and process, and a connection left open pins the old file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from apr_eval.errors import AprEvalError, DataError, UsageError
from apr_eval.leaderboard.migrations import (
    Connection,
    applied,
    check,
    migrate,
    refresh_release_dates,
)

T = TypeVar("T")


class StoreMissingError(UsageError):
    """There is no results database at the given path."""


class StoreBusyError(AprEvalError):
    """Another program holds the database file open for writing."""

    exit_code = 5


def missing_message(db_path: Path) -> str:
    return (f"no results database at {db_path}: create one with "
            f"`apr-eval ingest RESULTS_DIR --db {db_path}` (your runs) or "
            f"`apr-eval import LEADERBOARD_JSON --db {db_path}` (LiveCodeBench's published "
            "leaderboard)")


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def signature(db_path: Path) -> tuple[int, int, int]:
    """Changes whenever a writer replaces the file: a cache key for readers."""
    st = db_path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@contextlib.contextmanager
def reader(db_path: Path) -> Iterator[Connection]:
    """A read-only connection, closed on exit.

    Raises StoreMissingError, StoreBusyError, SchemaError or DataError (one line each).
    """
    if not db_path.exists():
        raise StoreMissingError(missing_message(db_path))
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusyError(f"{db_path} is being written by another program; try again "
                            "in a moment") from None
        raise DataError(f"{db_path}: cannot open as a DuckDB database ({exc})") from None
    except duckdb.Error as exc:
        raise DataError(f"{db_path}: cannot open as a DuckDB database ({exc})") from None
    try:
        check(applied(con), str(db_path), writable=False)
        yield con
    finally:
        con.close()


class Reader:
    """A long-lived reader for a server (the app): one connection per version of the file.

    Opening a DuckDB file costs far more than a leaderboard query, so the connection is kept
    and reopened only when a writer has replaced the file (its signature changed). Queries run
    one at a time under a lock, each on its own cursor, so no cursor of an old connection can
    outlive the reopen (DuckDB would hand the old file back to the new connection).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._con: Connection = None
        self._version: tuple[int, int, int] | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(cursor, *args)`` on the current version of the file."""
        with self._lock:
            if not self.db_path.exists():
                self.close_locked()
                raise StoreMissingError(missing_message(self.db_path))
            version = signature(self.db_path)
            if version != self._version:
                self.close_locked()
                stack = contextlib.ExitStack()
                self._con = stack.enter_context(reader(self.db_path))
                self._stack, self._version = stack, version
            cursor = self._con.cursor()
            try:
                return fn(cursor, *args)
            finally:
                cursor.close()

    @property
    def version(self) -> tuple[int, int, int] | None:
        return self._version

    def close_locked(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self._con, self._version = None, None, None

    def close(self) -> None:
        with self._lock:
            self.close_locked()


def writer_active(db_path: Path) -> bool:
    """True while an ingest holds the writer lock (readers then show a notice)."""
    path = lock_path(db_path)
    if not path.exists():
        return False
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # one writer: a second ingest waits its turn
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _discard(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


@contextlib.contextmanager
def writer(db_path: Path, *, fresh: bool = False) -> Iterator[Connection]:
    """The one writer: a migrated copy of the database inside one transaction.

    On normal exit the transaction commits and the copy replaces ``db_path`` atomically; on an
    exception nothing changes. ``fresh`` starts from an empty database (rebuild).
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(lock_path(db_path)):
        tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
        _discard(tmp)
        if db_path.exists() and not fresh:
            shutil.copyfile(db_path, tmp)
        try:
            con = duckdb.connect(str(tmp))
        except duckdb.Error as exc:
            _discard(tmp)
            raise DataError(f"{db_path}: cannot open as a DuckDB database ({exc})") from None
        try:
            migrate(con, str(db_path))
            con.execute("BEGIN TRANSACTION")
            yield con
            refresh_release_dates(con)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        except BaseException:
            con.close()
            _discard(tmp)
            raise
        con.close()
        os.replace(tmp, db_path)


def ensure(db_path: Path) -> int:
    """Create or upgrade the database without other changes; return its schema version."""
    with writer(db_path) as con:
        version = len(applied(con))
    return version
