"""User-facing errors: each one becomes a single clear line and a non-zero exit in the CLI."""

from __future__ import annotations


class AprEvalError(Exception):
    """Base class. ``str(err)`` is the one line the CLI prints."""

    exit_code = 1


class UsageError(AprEvalError):
    """Bad input from the user: unknown names, malformed files, bad options."""

    exit_code = 2


class DataError(UsageError):
    """A data file is missing, corrupt, or does not match its pinned hash."""


class SandboxUnavailable(AprEvalError):
    """The Docker daemon cannot be reached or the sandbox image is missing."""

    exit_code = 3


class BackendError(AprEvalError):
    """A generation backend failed in a way retrying will not fix."""

    exit_code = 4
