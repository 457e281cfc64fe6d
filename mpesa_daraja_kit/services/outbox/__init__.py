"""The event outbox: events committed with their change, delivered to hooks after commit.

:mod:`.service` holds the dispatcher and its rules (leases, back-off, dead
letters); :mod:`.rows` encodes events into outbox rows, one at a time or in bulk.
"""

from mpesa_daraja_kit.services.outbox.rows import (
    EVENT_COLUMNS,
    encode_events,
    outbox_row,
    queue_encoded,
)
from mpesa_daraja_kit.services.outbox.service import DeadLetter, DrainResult, EventOutbox

__all__ = [
    "EVENT_COLUMNS",
    "DeadLetter",
    "DrainResult",
    "EventOutbox",
    "encode_events",
    "outbox_row",
    "queue_encoded",
]
