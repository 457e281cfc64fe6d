"""Under overload a kept body is never answered 500 nor left half-done.

With the pool exhausted, a check-out after the raw body is safe can time out:
the body is answered Accepted and stays RECEIVED for the sweep (it used to be
marked FAILED, or answered 500 when marking it needed yet another connection).
No connection is held across the host's hook, which may use the same pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit import hookimpl
from mpesa_daraja_kit.db.engine import create_kit_engine
from mpesa_daraja_kit.db.models import callback_log, payment_items
from mpesa_daraja_kit.events import Account
from mpesa_daraja_kit.kit import MpesaKit
from tests.reliability.conftest import confirmation_bytes
from tests.support import HostPlugin, kit_settings

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def confirmation(n: int) -> bytes:
    return confirmation_bytes(f"UAO{n:07d}")


class SlowLookup(HostPlugin):
    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        await asyncio.sleep(0.05)
        return self.accounts.get(account_reference.upper())


async def post(http: httpx.AsyncClient, n: int) -> httpx.Response:
    return await http.post(
        "/confirmation", content=confirmation(n), headers={"Content-Type": "application/json"}
    )


@pytest.fixture
async def small_pool_kit(
    db_url: str, engine: AsyncEngine, backend: str, tmp_path: Path
) -> AsyncIterator[MpesaKit]:
    if backend == "sqlite":
        pytest.skip("SQLite's pool is not a server's connection limit; see the server backends")
    small = create_kit_engine(db_url, pool_size=2, max_overflow=0, pool_timeout=0.2)
    settings = kit_settings(
        "http://127.0.0.1:9", spool_dir=str(tmp_path / "spool"), callback_sweep_after=0.1
    )
    kit = MpesaKit(settings, engine=small, plugins=[SlowLookup()])
    yield kit
    await kit.aclose()
    await small.dispose()


class LooksUpInTheSamePool(HostPlugin):
    """A host whose account look-up uses the kit's own engine (as the sample host does)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self.engine = engine

    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return self.accounts.get(account_reference.upper())


async def test_the_host_look_up_runs_with_no_connection_held(
    db_url: str, server_backend: str
) -> None:
    # A pool of one: holding the raw body's connection across the look-up would
    # starve the host's own query until the pool time-out, and the payment would be
    # recorded without its account.
    one = create_kit_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=1)
    kit = MpesaKit(
        kit_settings("http://127.0.0.1:9"),
        engine=one,
        plugins=[LooksUpInTheSamePool(one)],
        deliver_events=False,
    )
    checkouts: list[Any] = []
    event.listen(one.sync_engine, "checkout", lambda *a: checkouts.append(a))
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        response = await post(http, 1)
    assert response.json() == ACCEPTED
    assert len(checkouts) == 3  # the raw body, the host's look-up, the record: one at a time
    async with one.connect() as conn:
        account = await conn.scalar(sa.select(payment_items.c.host_account_id))
    assert account == "policy-1"
    await kit.aclose()
    await one.dispose()


async def test_an_exhausted_pool_spools_or_records_every_confirmation(
    small_pool_kit: MpesaKit,
) -> None:
    kit = small_pool_kit
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        responses = await asyncio.gather(*(post(http, n) for n in range(40)))
    assert [r.status_code for r in responses] == [200] * 40
    assert all(r.json() == ACCEPTED for r in responses)

    async with kit.engine.connect() as conn:
        failed = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(callback_log)
            .where(callback_log.c.outcome == "FAILED")
        )
    assert failed == 0  # kept bodies were recorded or wait RECEIVED; the rest spooled
    replay = await kit.replay_spool()
    await asyncio.sleep(0.15)  # older than callback_sweep_after
    await kit.sweep_callbacks()
    assert replay.remaining == 0 and replay.quarantined == 0
    async with kit.engine.connect() as conn:
        payments = await conn.scalar(sa.select(sa.func.count()).select_from(payment_items))
        outcomes = (await conn.execute(sa.select(callback_log.c.outcome))).scalars().all()
    assert payments == 40
    assert sorted(set(outcomes)) == ["APPLIED"]
