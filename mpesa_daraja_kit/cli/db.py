"""``mpesa-kit db``: upgrade, downgrade, inspect and check the kit's tables."""

from __future__ import annotations

import asyncio

import click

from mpesa_daraja_kit.cli._common import database_url as _url
from mpesa_daraja_kit.cli._common import url_option as _url_option
from mpesa_daraja_kit.db import migrate as migrations


@click.group()
def db() -> None:
    """Manage the kit's tables (its own Alembic history and version table)."""


@db.command()
@_url_option
@click.option("--revision", default="head", show_default=True)
def upgrade(url: str | None, revision: str) -> None:
    """Create or upgrade the kit's tables."""
    asyncio.run(migrations.migrate(_url(url), revision))
    click.echo(f"upgraded to {revision} ({migrations.head_revision()} is the newest)")


@db.command()
@_url_option
@click.argument("revision")
def downgrade(url: str | None, revision: str) -> None:
    """Downgrade the kit's tables to REVISION (`base` drops them)."""
    asyncio.run(migrations.downgrade(_url(url), revision))
    click.echo(f"downgraded to {revision}")


@db.command()
@_url_option
def current(url: str | None) -> None:
    """Print the revision the database is at."""
    rev = asyncio.run(migrations.current_revision(_url(url)))
    click.echo(rev or "none (the kit's tables are not there)")


@db.command()
@_url_option
def check(url: str | None) -> None:
    """Exit non-zero unless the database is at the newest revision and matches the models."""
    target = _url(url)
    asyncio.run(migrations.check_schema(target))
    diff = asyncio.run(migrations.schema_diff(target))
    if diff:
        raise click.ClickException(f"schema differs from the models: {diff}")
    click.echo(f"up to date ({migrations.head_revision()})")
