"""The event outbox: after commit, retried when a hook fails, never twice after a success."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.config import C2BValidationMode
from mpesa_daraja_kit.db.models import OutboxStatus, event_outbox
from mpesa_daraja_kit.events import StatementImported
from mpesa_daraja_kit.hookspecs import hookimpl
from mpesa_daraja_kit.plugins import make_plugin_manager
from mpesa_daraja_kit.services.outbox import EventOutbox


class Recorder:
    def __init__(self, fail_first: int = 0, pause: float = 0.0) -> None:
        self.seen: collections.Counter[str] = collections.Counter()
        self.fail_first = fail_first
        self.pause = pause

    @hookimpl
    async def mpesa_statement_imported(self, event: StatementImported) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("host down")
        self.seen[event.event_id] += 1
        if self.pause:
            await asyncio.sleep(self.pause)


T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def event(n: int) -> StatementImported:
    return StatementImported(
        upload_id=str(n), status="COMPLETED", total_statement_items=0, matched_ipn_records=0,
        duplicate_statement_records=0, gaps_filled=0, failed_items=0, occurred_at=T0,
    )  # fmt: skip


async def queue(engine: AsyncEngine, outbox: EventOutbox, count: int) -> None:
    async with engine.begin() as conn:
        for n in range(count):
            await outbox.add(conn, event(n), f"statement_imported:{n}")
            # The same change twice queues one event.
            assert not await outbox.add(conn, event(n), f"statement_imported:{n}")


async def test_a_failing_hook_is_retried_later_and_its_error_recorded(engine: AsyncEngine) -> None:
    host = Recorder(fail_first=1)
    clock = Clock()
    outbox = EventOutbox(
        engine, make_plugin_manager([host], validation_mode=C2BValidationMode.KNOWN_ACCOUNT),
        clock=clock,
    )  # fmt: skip
    await queue(engine, outbox, 1)
    first = await outbox.drain()
    assert (first.delivered, first.failed) == (0, 1)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(event_outbox))).one()
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert "RuntimeError: host down" in row.last_error
    assert row.next_attempt_at > clock.now  # backed off
    assert (await outbox.drain()).delivered == 0  # not due yet
    clock.now += timedelta(minutes=20)
    assert (await outbox.drain()).delivered == 1
    assert (await outbox.drain()).delivered == 0  # never twice after a success
    assert list(host.seen.values()) == [1]
    assert await outbox.pending_count() == 0


async def test_two_workers_with_slow_hooks_deliver_each_event_once(engine: AsyncEngine) -> None:
    host = Recorder(pause=0.15)
    pm = make_plugin_manager([host], validation_mode=C2BValidationMode.KNOWN_ACCOUNT)
    first = EventOutbox(engine, pm, lease_seconds=0.5)
    second = EventOutbox(engine, pm, lease_seconds=0.5)
    await queue(engine, first, 8)

    async def later() -> object:
        await asyncio.sleep(0.6)  # after the first worker's lease would have run out
        return await second.drain()

    await asyncio.gather(first.drain(), later())
    assert len(host.seen) == 8
    assert set(host.seen.values()) == {1}


async def test_a_host_drains_the_outbox_from_its_own_worker(engine: AsyncEngine) -> None:
    host = Recorder()
    pm = make_plugin_manager([host], validation_mode=C2BValidationMode.KNOWN_ACCOUNT)
    outbox = EventOutbox(engine, pm, deliver_inline=False)
    await queue(engine, outbox, 3)
    await outbox.after_commit()  # no dispatcher, no inline delivery: it waits for the host
    assert host.seen == {}
    assert await outbox.pending_count() == 3
    assert (await outbox.drain()).delivered == 3
    assert len(host.seen) == 3
