"""Hooks with limits: a hanging hook is abandoned, a failing one ends in the dead letters."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.config import C2BValidationMode
from mpesa_daraja_kit.db.models import OutboxStatus, event_outbox
from mpesa_daraja_kit.events import StatementImported
from mpesa_daraja_kit.hookspecs import hookimpl
from mpesa_daraja_kit.plugins import make_plugin_manager
from mpesa_daraja_kit.services.outbox import EventOutbox
from tests.reliability.test_outbox import Clock, queue


class Hanging:
    """Hangs on upload 0 (forever, async), delivers the others."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    async def mpesa_statement_imported(self, event: StatementImported) -> None:
        if event.upload_id == "0":
            await asyncio.Event().wait()
        self.seen.append(event.upload_id)


class SyncHanging:
    """A plain ``def`` hook blocking on upload 0 (until released)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.release = threading.Event()

    @hookimpl
    def mpesa_statement_imported(self, event: StatementImported) -> None:
        if event.upload_id == "0":
            self.release.wait(10)
        self.seen.append(event.upload_id)


class AlwaysFails:
    @hookimpl
    def mpesa_statement_imported(self, event: StatementImported) -> None:
        raise RuntimeError("host down")


def make(
    engine: AsyncEngine, host: object, clock: Clock | None = None, **kw: object
) -> EventOutbox:
    pm = make_plugin_manager([host], validation_mode=C2BValidationMode.KNOWN_ACCOUNT)
    return EventOutbox(engine, pm, **({"clock": clock} if clock else {}), **kw)  # type: ignore[arg-type]


async def status(engine: AsyncEngine) -> dict[str, tuple[OutboxStatus, int, str | None]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(event_outbox))).all()
    return {r.payload["upload_id"]: (r.status, r.attempts, r.last_error) for r in rows}


async def test_a_hanging_async_hook_is_abandoned_and_others_keep_flowing(
    engine: AsyncEngine,
) -> None:
    host = Hanging()
    outbox = make(engine, host, hook_timeout=0.2)
    await queue(engine, outbox, 3)
    result = await asyncio.wait_for(outbox.drain(), 5)
    assert (result.delivered, result.failed) == (2, 1)
    assert sorted(host.seen) == ["1", "2"]
    state = await status(engine)
    assert state["0"][:2] == (OutboxStatus.PENDING, 1)
    assert "timed out" in (state["0"][2] or "")


async def test_a_hanging_sync_hook_does_not_block_the_event_loop(engine: AsyncEngine) -> None:
    host = SyncHanging()
    outbox = make(engine, host, hook_timeout=0.2)
    await queue(engine, outbox, 2)
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(outbox.drain(), 5)
    finally:
        host.release.set()
    assert time.monotonic() - started < 5
    assert (result.delivered, result.failed) == (1, 1)
    assert "1" in host.seen


async def test_a_hook_that_always_raises_ends_dead_and_can_be_redelivered(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    outbox = make(engine, AlwaysFails(), clock, max_attempts=3, deliver_inline=False)
    await queue(engine, outbox, 1)
    for _ in range(5):
        await outbox.drain()
        clock.now += timedelta(hours=1)
    state = await status(engine)
    assert state["0"][:2] == (OutboxStatus.DEAD, 3)
    assert "RuntimeError: host down" in (state["0"][2] or "")
    assert await outbox.pending_count() == 0
    dead = await outbox.dead_letters()
    assert [d.attempts for d in dead] == [3]
    assert "host down" in (dead[0].last_error or "")

    assert await outbox.redeliver([dead[0].id]) == 1
    state = await status(engine)
    assert state["0"][:2] == (OutboxStatus.PENDING, 0)
    fixed = make(engine, object(), clock)  # the host's fix: no failing hook any more
    assert (await fixed.drain()).delivered == 1
    assert await fixed.dead_letters() == []


async def test_redeliver_all_dead(engine: AsyncEngine) -> None:
    clock = Clock()
    outbox = make(engine, AlwaysFails(), clock, max_attempts=1, deliver_inline=False)
    await queue(engine, outbox, 2)
    assert (await outbox.drain()).failed == 2
    assert len(await outbox.dead_letters()) == 2
    assert await outbox.redeliver() == 2
    assert await outbox.pending_count() == 2
    assert await outbox.redeliver() == 0
