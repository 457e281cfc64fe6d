"""What the operator commands share: the database URL option, settings and building a kit."""

from __future__ import annotations

import os
from typing import Any

import click

from mpesa_daraja_kit.config import DARAJA_VARIABLES, Settings, settings_without_daraja
from mpesa_daraja_kit.errors import ConfigError
from mpesa_daraja_kit.kit import MpesaKit

__all__ = ["URL_HELP", "daraja_settings", "database_url", "open_kit", "url_option"]

URL_HELP = (
    "Database URL (default: $DATABASE_URL). Plain postgresql://, postgres://, mysql://, "
    "mariadb:// and sqlite:/// URLs get the async drivers (postgresql+asyncpg, mysql+asyncmy, "
    "sqlite+aiosqlite), e.g. sqlite:///kit.db"
)
URL_META = "mpesa_kit.database_url"
"""Where the command's database URL is kept in ``click.Context.meta`` (for error messages)."""

url_option = click.option("--url", "url", default=None, help=URL_HELP)


def database_url(url: str | None) -> str:
    """Return ``--url`` or ``$DATABASE_URL``; a configuration error when neither is given."""
    value = url or os.environ.get("DATABASE_URL", "")
    if not value:
        raise ConfigError("no database URL; give --url URL or set DATABASE_URL")
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[URL_META] = value
    return value


def daraja_settings(**overrides: Any) -> Settings:
    """Return the ``MPESA_*`` settings for a command that calls Daraja.

    Missing credentials are reported together, in one line naming the variables.
    """
    try:
        return Settings.from_env(**overrides)
    except ConfigError:
        missing = [name for name in DARAJA_VARIABLES if not os.environ.get(name)]
        if not missing:
            raise
        env = overrides.get("environment") or os.environ.get("MPESA_ENVIRONMENT") or "sandbox"
        raise ConfigError(
            f"this command calls Daraja ({env}) and needs {', '.join(missing)}; set them "
            "(or MPESA_ENVIRONMENT=simulator to use the local simulator)"
        ) from None


def open_kit(
    url: str | None, *, deliver_events: bool = False, daraja: bool = False, **kwargs: Any
) -> MpesaKit:
    """Build a kit from ``MPESA_*`` settings for an operator command.

    Database-only commands do not need Daraja credentials (a call to Daraja
    would still fail, naming the variables); ``daraja`` commands do. Commands
    that never start a prompt do not need a callback URL: when none is configured,
    STK initiation is simply
    switched off for this kit. Events are left in the outbox for the host's own
    dispatcher unless ``deliver_events`` (the command has the host's plugins and
    delivers them itself).
    """
    target = database_url(url)
    build = daraja_settings if daraja else settings_without_daraja
    settings = build()
    if settings.stk_enabled and not settings.stk_callback_url:
        settings = build(stk_enabled=False)
    return MpesaKit(settings, database_url=target, deliver_events=deliver_events, **kwargs)
