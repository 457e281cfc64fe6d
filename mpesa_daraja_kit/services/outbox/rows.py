"""Outbox rows: an event as the row that queues it, one at a time or thousands at once.

Both paths write what :func:`outbox_row` says, payloads by one converter
(:func:`~mpesa_daraja_kit.events.event_to_payload`; the bulk path writes its JSON
text directly, :func:`~mpesa_daraja_kit.events.event_to_json`), keys by the event itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from mpesa_daraja_kit.db.bulk import bulk_plan, insert_tuples, insert_tuples_one_by_one
from mpesa_daraja_kit.db.models import OutboxStatus, event_outbox
from mpesa_daraja_kit.events import Event, event_to_json, event_to_payload

__all__ = ["EVENT_COLUMNS", "Row", "encode_events", "outbox_row", "queue_encoded"]

_T = event_outbox


EVENT_COLUMNS = (
    "id",
    "event_type",
    "dedupe_key",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
"""The columns a queued event fills, in bulk insert order."""

Row = tuple[Any, ...]


def outbox_row(event: Event, now: datetime, dedupe_key: str | None = None) -> dict[str, Any]:
    """Return the outbox row that queues ``event`` (its own dedupe key unless overridden)."""
    key = event.dedupe_key if dedupe_key is None else dedupe_key
    return {
        "id": uuid.UUID(event.event_id),
        "event_type": event.hook,
        "dedupe_key": key[:255],
        "payload": event_to_payload(event),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def encode_events(dialect: Dialect, events: Iterable[Event], now: datetime) -> list[Row]:
    """Return outbox rows for ``events`` as driver tuples of :data:`EVENT_COLUMNS`.

    For a bulk writer that queues thousands at once (a statement batch): the
    rows :meth:`EventOutbox.add` would write, payloads by the same converter.
    """
    # The hot path of a large import: a tuple per event, no dict, each value
    # converted once for its column (the id as text, which every converter takes).
    # The payload column takes JSON text on every database (its converter is
    # json.dumps): event_to_json writes that text without the intermediate dict.
    convert = bulk_plan(_T, dialect, EVENT_COLUMNS).convert
    event_id = convert["id"]
    pending = convert["status"](OutboxStatus.PENDING)
    stamp = convert["created_at"](now)
    return [
        (
            event_id(event.event_id),
            event.hook,
            event.dedupe_key[:255],
            event_to_json(event),
            pending,
            0,
            stamp,
            stamp,
        )
        for event in events
    ]


async def queue_encoded(
    conn: AsyncConnection, rows: Sequence[Row], *, one_by_one: bool = False
) -> None:
    """Queue :func:`encode_events` rows in the caller's transaction.

    ``one_by_one`` lets the unique dedupe key skip an event queued meanwhile.
    """
    plan = bulk_plan(_T, conn.dialect, EVENT_COLUMNS)
    if one_by_one:
        await insert_tuples_one_by_one(conn, plan, rows, ("dedupe_key",))
    else:
        await insert_tuples(conn, plan, rows)
