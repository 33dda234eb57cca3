"""Shared fixtures. Docker tests skip where no engine is reachable, except in CI
(APR_EVAL_REQUIRE_DOCKER=1, set by .ci/run), where a missing engine or image fails them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _docker_problem() -> str | None:
    try:
        from apr_eval.sandbox import engine

        client = engine.connect(timeout=10)
        engine.image_id(client)
    except Exception as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    problem = _docker_problem()
    if problem is None:
        return
    if os.environ.get("APR_EVAL_REQUIRE_DOCKER") == "1":
        pytest.fail(f"Docker sandbox required in CI but unavailable: {problem}")
    pytest.skip(f"Docker sandbox unavailable: {problem}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.exists():
        pytest.fail(f"shared data not found at {SHARED}")
    return SHARED
