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

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs
import pluggy
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.db.models import OutboxStatus, event_outbox
from mpesa_daraja_kit.db.queries import insert_ignore, supports_skip_locked, transaction
from mpesa_daraja_kit.events import Event, event_from_payload
from mpesa_daraja_kit.log import describe_error
from mpesa_daraja_kit.plugins import notify
from mpesa_daraja_kit.services.background import BackgroundLoop
from mpesa_daraja_kit.services.outbox.rows import outbox_row

__all__ = ["DeadLetter", "DrainResult", "EventOutbox"]

log = logging.getLogger("mpesa_daraja_kit.events")
_T = event_outbox
# Events claimed (and marked delivered) per round trip pair.
_BATCH = 50


@attrs.frozen
class DrainResult:
    """What one drain did."""

    delivered: int = 0
    failed: int = 0


@attrs.frozen
class DeadLetter:
    """An event whose hooks failed ``max_attempts`` times; it waits for :meth:`redeliver`."""

    id: str
    event_type: str
    dedupe_key: str
    attempts: int
    last_error: str | None
    created_at: datetime
    payload: dict[str, Any]


class EventOutbox:
    """Write events transactionally and deliver them to the event hooks."""

    def __init__(
        self,
        engine: AsyncEngine,
        pm: pluggy.PluginManager,
        *,
        clock: Clock = utc_now,
        lease_seconds: float = 300.0,
        max_backoff_seconds: float = 900.0,
        poll_interval: float = 2.0,
        deliver_inline: bool = True,
        hook_timeout: float | None = 30.0,
        max_attempts: int = 10,
    ) -> None:
        self._engine = engine
        self._pm = pm
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._max_backoff = max_backoff_seconds
        self._poll_interval = poll_interval
        self._deliver_inline = deliver_inline
        self._hook_timeout = hook_timeout
        self._max_attempts = max_attempts
        self._wakeup: asyncio.Event | None = None
        self._loop = BackgroundLoop("mpesa-kit-outbox", self._run)
        self._drain_lock = asyncio.Lock()

    # -- writing ------------------------------------------------------------------

    async def add(self, conn: AsyncConnection, event: Event, dedupe_key: str | None = None) -> bool:
        """Queue ``event`` in the caller's transaction; False when its dedupe key is queued.

        The key is the event's own (:attr:`Event.dedupe_key`), so every flow that
        describes one change spells it the same way; ``dedupe_key`` overrides it.
        """
        return await insert_ignore(
            conn, _T, outbox_row(event, self._clock(), dedupe_key), ["dedupe_key"]
        )

    @contextlib.asynccontextmanager
    async def transaction(
        self, conn: AsyncConnection | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """Run a transaction whose events are delivered once it has committed.

        With ``conn`` the transaction runs on that connection (no second pool
        check-out) and delivery is left to its owner: an inline drain needs a
        connection of its own, and one taken while ``conn`` is still held can
        starve the pool (C2B calls :meth:`after_commit` once it has let go). On
        a connection of its own, delivery follows the commit, the connection
        back in the pool. A transaction that raises is rolled back: nothing to deliver.
        """
        async with transaction(self._engine, conn) as tx:
            yield tx
        if conn is None:
            await self.after_commit()

    async def after_commit(self) -> None:
        """Get freshly committed events delivered: wake the dispatcher, or drain inline.

        With ``deliver_inline`` off (the host drains from its own worker) this does nothing.
        """
        if self._wakeup is not None:
            self._wakeup.set()
        elif self._deliver_inline:
            try:
                await self.drain()
            except Exception:
                # The events are committed: they wait in the outbox for the next drain.
                # The change they describe succeeded and must not be reported as failed.
                log.warning("inline event delivery failed; the events wait", exc_info=True)

    # -- delivering ---------------------------------------------------------------

    async def drain(self, limit: int = 100) -> DrainResult:
        """Deliver due events (oldest first) until none is due or ``limit`` were tried."""
        delivered = failed = 0
        async with self._drain_lock:
            while delivered + failed < limit:
                batch = min(_BATCH, limit - delivered - failed)
                claimed_at = self._clock()
                claimed = await self._claim(batch)
                done: list[Any] = []
                released = False
                for index, row in enumerate(claimed):
                    if self._clock() - claimed_at > self._lease / 2:
                        # Slow hooks: hand the rest back while the lease still holds, so
                        # no other worker can claim (and deliver) an event twice.
                        await self._release([r.id for r in claimed[index:]])
                        released = True
                        break
                    if await self._deliver(row):
                        done.append(row.id)
                    else:
                        failed += 1
                await self._mark_delivered(done)
                delivered += len(done)
                if len(claimed) < batch and not released:
                    # Nothing more was due; events committed meanwhile wake us again.
                    break
        return DrainResult(delivered, failed)

    async def _claim(self, batch: int) -> list[Any]:
        """Lease up to ``batch`` due events: one select and one update, whatever the batch."""
        now = self._clock()
        due = (
            (_T.c.status == OutboxStatus.PENDING)
            & (_T.c.next_attempt_at <= now)
            & (_T.c.locked_until.is_(None) | (_T.c.locked_until < now))
        )
        lease = {"locked_until": now + self._lease}
        async with self._engine.begin() as conn:
            select = sa.select(_T).where(due).order_by(_T.c.created_at, _T.c.id).limit(batch)
            if supports_skip_locked(conn):
                select = select.with_for_update(skip_locked=True)
            rows = (await conn.execute(select)).all()
            if not rows:
                return []
            # The conditional update is the claim: another worker's lease makes rows miss.
            result = await conn.execute(
                sa.update(_T).where(_T.c.id.in_([row.id for row in rows]), due).values(**lease)
            )
            if result.rowcount == len(rows):
                return list(rows)
            # Another worker leased some of them meanwhile (SQLite has no row locks):
            # find out which rows are ours, one by one.
            claimed = []
            for row in rows:
                mine = await conn.execute(
                    sa.select(_T.c.id).where(
                        _T.c.id == row.id, _T.c.locked_until == lease["locked_until"]
                    )
                )
                if mine.first() is not None:
                    claimed.append(row)
        return claimed

    async def _deliver(self, row: Any) -> bool:
        """Run the hooks for one event; on failure record it for a later retry."""
        try:
            event = event_from_payload(row.event_type, row.payload)
            await notify(self._pm, event, hook_timeout=self._hook_timeout)
        except Exception as exc:
            await self._record_failure(row, exc)
            return False
        return True

    async def _record_failure(self, row: Any, exc: Exception) -> None:
        """Back the event off for a later retry — or, after ``max_attempts``, make it DEAD."""
        attempts = row.attempts + 1
        dead = attempts >= self._max_attempts
        delay = min(self._max_backoff, 2.0**attempts) * random.uniform(0.5, 1.0)
        extra = {"event_id": str(row.id), "event_type": row.event_type, "attempts": attempts}
        if dead:
            log.error(
                "event hook failed %d times; the event is a dead letter "
                "(mpesa-kit events redeliver %s)",
                attempts,
                row.id,
                exc_info=exc,
                extra=extra,
            )
        else:
            log.warning("event hook failed; will retry", exc_info=exc, extra=extra)
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(_T)
                .where(_T.c.id == row.id)
                .values(
                    status=OutboxStatus.DEAD if dead else OutboxStatus.PENDING,
                    attempts=attempts,
                    last_error=describe_error(exc)[:2000],
                    next_attempt_at=self._clock() + timedelta(seconds=delay),
                    locked_until=None,
                )
            )

    async def _release(self, ids: list[Any]) -> None:
        """Give back leased events that were not delivered (they are due again at once)."""
        if ids:
            async with self._engine.begin() as conn:
                await conn.execute(sa.update(_T).where(_T.c.id.in_(ids)).values(locked_until=None))

    async def _mark_delivered(self, ids: list[Any]) -> None:
        """Mark a batch of events delivered in one statement (they stay leased until then)."""
        if not ids:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(_T)
                .where(_T.c.id.in_(ids))
                .values(
                    status=OutboxStatus.DELIVERED,
                    attempts=_T.c.attempts + 1,
                    delivered_at=self._clock(),
                    locked_until=None,
                    last_error=None,
                )
            )

    async def pending_count(self) -> int:
        """Return how many events wait for delivery."""
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(_T)
                .where(_T.c.status == OutboxStatus.PENDING)
            )
        return int(count or 0)

    # -- dead letters ---------------------------------------------------------------

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return the dead events, oldest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(_T)
                    .where(_T.c.status == OutboxStatus.DEAD)
                    .order_by(_T.c.created_at, _T.c.id)
                    .limit(limit)
                )
            ).all()
        return [
            DeadLetter(
                id=str(row.id),
                event_type=row.event_type,
                dedupe_key=row.dedupe_key,
                attempts=row.attempts,
                last_error=row.last_error,
                created_at=row.created_at,
                payload=row.payload,
            )
            for row in rows
        ]

    async def redeliver(self, ids: Iterable[str | uuid.UUID] | None = None) -> int:
        """Make dead events pending again with no attempts (``ids``, or every dead one).

        Returns how many were dead; an id that is not a dead event is skipped. The
        events are delivered by the next drain (after commit when inline).
        """
        dead = _T.c.status == OutboxStatus.DEAD
        if ids is not None:
            wanted = [_as_uuid(i) for i in ids]
            if not wanted:
                return 0
            dead = dead & _T.c.id.in_(wanted)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(_T)
                .where(dead)
                .values(
                    status=OutboxStatus.PENDING,
                    attempts=0,
                    next_attempt_at=self._clock(),
                    locked_until=None,
                )
            )
        count = int(result.rowcount or 0)
        if count:
            log.info("dead events made pending again", extra={"events": count})
            await self.after_commit()
        return count

    # -- the background dispatcher -------------------------------------------------

    @property
    def running(self) -> bool:
        """Tell whether the background dispatcher runs in this process."""
        return self._loop.running

    def start(self) -> None:
        """Start the background dispatcher (called by ``MpesaKit.lifespan``)."""
        if not self.running:
            self._wakeup = asyncio.Event()
            self._loop.start()

    async def stop(self) -> None:
        """Stop the background dispatcher; pending events stay for the next start."""
        await self._loop.stop()
        self._wakeup = None

    async def _run(self) -> None:
        wakeup = self._wakeup
        assert wakeup is not None
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("outbox drain failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), self._poll_interval)
            wakeup.clear()


def _as_uuid(value: str | uuid.UUID) -> uuid.UUID | None:
    """Return ``value`` as a UUID, or None when it is not one (it matches no event)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
