"""``mpesa-kit events``: list the dead letters of the event outbox and redeliver them.

An event whose hooks failed (or timed out) ``MPESA_EVENT_MAX_ATTEMPTS`` times is
``DEAD``: it is kept, with its last error, and never tried again on its own.
``list --dead`` shows them; after the hook is fixed, ``redeliver ID`` or
``redeliver --all-dead`` makes them pending again (attempts back to 0), to be
delivered by the host's dispatcher. Hosts can call ``kit.events.dead_letters()``
and ``kit.events.redeliver(ids)`` from Python.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from mpesa_daraja_kit.cli._common import open_kit
from mpesa_daraja_kit.cli._common import url_option as _url_option
from mpesa_daraja_kit.db.migrate import check_schema
from mpesa_daraja_kit.errors import NotFound
from mpesa_daraja_kit.log import redact_text
from mpesa_daraja_kit.services.outbox import DeadLetter

__all__ = ["events", "render_dead_letter"]


def render_dead_letter(letter: DeadLetter, *, show_pii: bool = False) -> dict[str, Any]:
    """Return a dead event as JSON-ready data (its error masked unless ``show_pii``)."""
    error = letter.last_error
    return {
        "id": letter.id,
        "event_type": letter.event_type,
        "dedupe_key": letter.dedupe_key,
        "attempts": letter.attempts,
        "last_error": error if show_pii or error is None else redact_text(error),
        "created_at": letter.created_at.isoformat(),
    }


@click.group()
def events() -> None:
    """Inspect the event outbox and redeliver dead events."""


@events.command("list")
@_url_option
@click.option("--dead", is_flag=True, required=True, help="The dead letters (DEAD events).")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--show-pii", is_flag=True, help="Show phone numbers and names unmasked.")
def list_events(url: str | None, dead: bool, limit: int, show_pii: bool) -> None:
    """Print the dead events as JSON, oldest first."""

    async def run() -> list[DeadLetter]:
        kit = open_kit(url)
        try:
            await check_schema(kit.engine)
            return await kit.events.dead_letters(limit=limit)
        finally:
            await kit.aclose()

    letters = asyncio.run(run())
    click.echo(json.dumps([render_dead_letter(d, show_pii=show_pii) for d in letters], indent=2))


@events.command()
@_url_option
@click.argument("event_id", required=False)
@click.option("--all-dead", is_flag=True, help="Redeliver every dead event.")
def redeliver(url: str | None, event_id: str | None, all_dead: bool) -> None:
    """Make dead events pending again (attempts reset) for the host's dispatcher."""
    if (event_id is None) == (not all_dead):
        raise click.UsageError("give an event ID or --all-dead (not both)")

    async def run() -> int:
        kit = open_kit(url)
        try:
            await check_schema(kit.engine)
            return await kit.events.redeliver(None if all_dead else [event_id or ""])
        finally:
            await kit.aclose()

    count = asyncio.run(run())
    if event_id is not None and not count:
        raise NotFound(f"no dead event {event_id[:100]!r}; see: mpesa-kit events list --dead")
    click.echo(json.dumps({"redelivered": count}))
