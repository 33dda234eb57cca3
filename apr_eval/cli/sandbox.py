"""``apr-eval sandbox build|info``: the sandbox image."""

from __future__ import annotations

import click

from apr_eval.sandbox import engine
from apr_eval.sandbox.image import METHODS, image_tag
from apr_eval.settings import load_settings


@click.group()
def sandbox() -> None:
    """Build and inspect the sandbox image."""


@sandbox.command()
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
              help="debootstrap: offline rootfs + docker import; dockerfile: needs a registry.")
def build(method: str) -> None:
    """Build the sandbox image for this version of the runner (no-op if it exists)."""
    client = engine.connect()
    tag, digest = engine.build(client, method, load_settings().cache_dir / "sandbox",
                               lambda msg: click.echo(msg, err=True))
    click.echo(f"{tag} {digest}")


@sandbox.command()
def info() -> None:
    """Print the image tag this version expects and whether it is built."""
    client = engine.connect()
    tag = image_tag()
    click.echo(f"{tag} {engine.image_id(client, tag)}")
