"""One place that turns a failed command into one line on stderr and a stable exit code."""

from __future__ import annotations

import socket
from typing import IO, Any, NoReturn

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from mpesa_daraja_kit.cli import EXIT_CODES
from mpesa_daraja_kit.cli._common import URL_META
from mpesa_daraja_kit.errors import ConfigError, MpesaKitError, SchemaOutOfDate

__all__ = ["KitGroup", "OneLineError"]


class OneLineError(click.ClickException):
    """A failure printed as ``error: <message>`` on one line, with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


def _shown(url: str | None) -> str:
    if not url:
        return "the configured URL"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(exc: Exception, url: str | None) -> OneLineError | None:
    """Return the one-line error for ``exc`` (None for an unexpected one)."""
    where = _shown(url)
    if isinstance(exc, SchemaOutOfDate):
        current = exc.details.get("current")
        state = (
            "has no kit tables"
            if current is None
            else f"is behind (at {current}, needs {exc.details.get('head')})"
        )
        return OneLineError(
            f"{exc.code}: the database at {where} {state}; "
            f"run: mpesa-kit db upgrade --url {where if url else 'URL'}",
            EXIT_CODES["database"],
        )
    if isinstance(exc, ConfigError):
        return OneLineError(f"{exc.code}: {exc.message}", EXIT_CODES["usage"])
    if isinstance(exc, MpesaKitError):
        return OneLineError(f"{exc.code}: {exc.message}", EXIT_CODES["error"])
    if isinstance(exc, DBAPIError) and not isinstance(exc.orig, type(None)):
        reason = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
        if "does not exist" in reason or "Unknown database" in reason:
            hint = "create it, or fix --url / DATABASE_URL"
        else:
            hint = "check the server is running and --url / DATABASE_URL"
        return OneLineError(
            f"database_error: cannot use the database at {where}: {reason}; {hint}",
            EXIT_CODES["database"],
        )
    if url and isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return OneLineError(
            f"database_unreachable: cannot reach the database at {where}: {_first_line(exc)}; "
            "check the server is running and --url / DATABASE_URL",
            EXIT_CODES["database"],
        )
    return None


class KitGroup(click.Group):
    """The root group: every command's failure becomes one line, unless ``--debug``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # the one place unexpected errors are reported
            if ctx.meta.get("mpesa_kit.debug"):
                raise
            _fail(exc, ctx.meta.get(URL_META))


def _fail(exc: Exception, url: str | None) -> NoReturn:
    known = translate(exc, url)
    if known is not None:
        raise known from None
    raise OneLineError(
        f"{type(exc).__name__}: {_first_line(exc)} (run with --debug for the traceback)",
        EXIT_CODES["error"],
    ) from None
