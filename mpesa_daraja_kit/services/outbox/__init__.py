"""The event outbox: events committed with their change, delivered to hooks after commit.

:meth:`EventOutbox.add` writes the event in the caller's transaction (a unique
``dedupe_key`` makes "the same change twice" one event). After commit the
kit's background dispatcher is woken — or, when no dispatcher runs (a script
using the services directly), the outbox is drained inline. A hook that
raises, or takes longer than ``hook_timeout`` (it is then abandoned, see
:func:`~mpesa_daraja_kit.plugins.notify`), leaves the event pending with the
error recorded, to be tried again with capped exponential backoff; after
``max_attempts`` failed attempts the event is ``DEAD`` (a dead letter) until
:meth:`EventOutbox.redeliver` makes it pending again. A delivered event is
never delivered again.
Several workers may drain one database: an event is claimed with a lease by
a conditional update, so one worker delivers it at a time.
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
