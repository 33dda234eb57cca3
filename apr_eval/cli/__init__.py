"""The ``apr-eval`` command. Subcommands live one per module and are imported lazily."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from apr_eval.errors import AprEvalError

# name -> "module:attribute" of a click.Command. Add a command by adding a line here.
COMMANDS: dict[str, str] = {
    "evaluate": "apr_eval.cli.evaluate:evaluate",
    "selfcheck": "apr_eval.cli.evaluate:selfcheck",
    "sandbox": "apr_eval.cli.sandbox:sandbox",
    "run": "apr_eval.cli.run:run",
    "generate": "apr_eval.cli.run:generate",
    "execute": "apr_eval.cli.run:execute",
    "score": "apr_eval.cli.run:score",
    "merge": "apr_eval.cli.merge:merge",
    "ingest": "apr_eval.cli.store:ingest",
    "import": "apr_eval.cli.store:import_published",
    "leaderboard": "apr_eval.cli.store:leaderboard",
    "compare": "apr_eval.cli.compare:compare",
    "nightly": "apr_eval.cli.compare:nightly",
    "plan": "apr_eval.cli.plan:plan",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("apr_eval"):
                return None  # command not built in this checkout
            raise
        command: click.Command = getattr(module, attr)
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Options first, no command: the main job, ``apr-eval --model x --limit 3`` is
        ``apr-eval run --model x --limit 3`` (every ``run`` option, parsed by ``run``)."""
        if args and args[0].startswith("-") and args[0] not in ctx.help_option_names:
            if self.get_command(ctx, "run") is None:
                raise click.UsageError("the generation pipeline is not installed in this "
                                       "checkout")
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """apr-eval: evaluate code LLMs in a Docker sandbox, verdicts computed on the host.

    The main job takes the options of ``apr-eval run`` directly:
    ``apr-eval --model x.gguf --bench humaneval --n-samples 10 --temperature 0.8``.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def entrypoint(argv: list[str] | None = None) -> Any:
    """Console-script entry: every AprEvalError becomes one line on stderr and its exit code."""
    try:
        return main.main(args=argv, standalone_mode=False)
    except AprEvalError as exc:
        click.echo(f"apr-eval: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("apr-eval: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"apr-eval: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
