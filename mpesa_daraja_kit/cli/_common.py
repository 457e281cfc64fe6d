"""What the operator commands share: the database URL option and building a kit."""

from __future__ import annotations

import os
from typing import Any

import attrs
import click

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.kit import MpesaKit

__all__ = ["database_url", "open_kit", "url_option"]

url_option = click.option(
    "--url",
    "url",
    default=None,
    help="Async SQLAlchemy URL of the kit's database (default: $DATABASE_URL).",
)


def database_url(url: str | None) -> str:
    """Return ``--url`` or ``$DATABASE_URL``; a usage error when neither is given."""
    value = url or os.environ.get("DATABASE_URL", "")
    if not value:
        raise click.UsageError("give --url or set DATABASE_URL")
    return value


def open_kit(url: str | None, *, deliver_events: bool = False, **kwargs: Any) -> MpesaKit:
    """Build a kit from ``MPESA_*`` settings for an operator command.

    Commands that never start a prompt do not need a callback URL: when none is
    configured, STK initiation is simply switched off for this kit. Events are left
    in the outbox for the host's own dispatcher unless ``deliver_events`` (the
    command has the host's plugins and delivers them itself).
    """
    settings = Settings.from_env()
    if settings.stk_enabled and not settings.stk_callback_url:
        settings = attrs.evolve(settings, stk_enabled=False)
    return MpesaKit(
        settings, database_url=database_url(url), deliver_events=deliver_events, **kwargs
    )
