"""``apr-eval ingest | import | leaderboard``: the results database and its Streamlit page."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

import click

from apr_eval.errors import UsageError
from apr_eval.settings import load_settings

DB_HELP = "DuckDB file (default: $APR_EVAL_RESULTS/apr-eval.duckdb)."


def _db(db: Path | None) -> Path:
    return db if db is not None else load_settings().db_path


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--db", type=click.Path(path_type=Path), help=DB_HELP)
@click.option("--rebuild", is_flag=True,
              help="Start a new database from every run under PATH (published imports kept).")
def ingest(paths: tuple[Path, ...], db: Path | None, rebuild: bool) -> None:
    """Index run directories (or a results folder of them) into the DuckDB store.

    With no PATH, creates or upgrades the database and does nothing else.
    """
    from apr_eval.leaderboard import ingest as store_ingest
    from apr_eval.leaderboard import store

    db_path = _db(db)
    for path in paths:
        if not path.is_dir():
            raise UsageError(f"{path}: no such directory")
    if rebuild:
        if len(paths) != 1:
            raise UsageError("--rebuild takes exactly one results folder")
        report = store_ingest.rebuild(db_path, paths[0])
        click.echo(f"rebuilt {db_path}: {len(report.ingested)} runs, "
                   f"{report.kept_published} published runs kept")
        return
    if not paths:
        version = store.ensure(db_path)
        click.echo(f"{db_path}: schema version {version}")
        return
    runs: list[Path] = []
    for path in paths:
        found = [path] if (path / "manifest.json").exists() else store_ingest.run_dirs(path)
        if not found:
            raise UsageError(f"{path}: neither a run directory nor a folder of them")
        runs += found
    report = store_ingest.ingest_runs(db_path, runs)
    click.echo(f"{db_path}: {len(report.ingested)} runs ingested, "
               f"{len(report.unchanged)} unchanged")


@click.command("import")
@click.argument("leaderboard_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--db", type=click.Path(path_type=Path), help=DB_HELP)
@click.option("--problems", type=click.Path(path_type=Path, dir_okay=False),
              help="Also load problem dates from a LiveCodeBench problems JSONL.")
def import_published(leaderboard_json: Path, db: Path | None, problems: Path | None) -> None:
    """Load LiveCodeBench's published per-problem leaderboard as read-only reference runs."""
    from apr_eval.leaderboard import published

    db_path = _db(db)
    report = published.import_published(db_path, leaderboard_json)
    click.echo(f"{db_path}: {report.models} published models, {report.problems} problems, "
               f"{report.rows} per-problem results")
    if problems is not None:
        count = published.import_problems(db_path, problems)
        click.echo(f"{db_path}: {count} problem dates from {problems}")


def streamlit_command(db_path: Path, port: int, *, headless: bool = True) -> list[str]:
    app = Path(__file__).resolve().parent.parent / "leaderboard" / "app.py"
    return [sys.executable, "-m", "streamlit", "run", str(app),
            "--server.port", str(port), "--server.headless", str(headless).lower(),
            "--browser.gatherUsageStats", "false", "--", "--db", str(db_path)]


@click.command()
@click.option("--db", type=click.Path(path_type=Path), help=DB_HELP)
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
def leaderboard(db: Path | None, port: int) -> None:
    """Serve the Streamlit leaderboard (headless) on http://localhost:PORT."""
    if importlib.util.find_spec("streamlit") is None:
        raise UsageError("the leaderboard needs Streamlit: pip install 'apr-eval[leaderboard]'")
    db_path = _db(db).resolve()
    click.echo(f"leaderboard for {db_path} on http://localhost:{port}  (Ctrl-C stops it)")
    code = serve(streamlit_command(db_path, port))
    if code:
        raise UsageError(f"streamlit exited with status {code}")


class _Stop(Exception):
    """SIGTERM / SIGHUP arrived: stop the server."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def serve(command: list[str], grace_s: float = 10.0) -> int:
    """Run the server as a child and stop it with us: on Ctrl-C, SIGTERM or SIGHUP the child
    gets SIGTERM (SIGKILL after ``grace_s``), so no orphaned Streamlit keeps the port."""
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    proc = subprocess.Popen(command)
    try:
        return proc.wait()
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
