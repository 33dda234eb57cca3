"""Every environment variable apr-eval reads, read in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    results_dir: Path
    cache_dir: Path
    docker_host: str | None
    ray_address: str | None = None  # --executor ray: the cluster (unset: a local Ray)

    @property
    def db_path(self) -> Path:
        return self.results_dir / "apr-eval.duckdb"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    cache_root = Path(env.get("XDG_CACHE_HOME", str(Path.home() / ".cache")))
    return Settings(
        results_dir=Path(env.get("APR_EVAL_RESULTS", "results")),
        cache_dir=Path(env.get("APR_EVAL_CACHE", str(cache_root / "apr-eval"))),
        docker_host=env.get("DOCKER_HOST"),
        ray_address=env.get("APR_EVAL_RAY_ADDRESS") or None,
    )
