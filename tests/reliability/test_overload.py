"""Under overload a kept body is never answered 500 nor left half-done: one connection each.

A confirmation used to check out two pooled connections (one to keep the raw
body, one to record it); with the pool exhausted, the second check-out timed
out after the body was safe, and marking it needed a third.
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


async def test_a_confirmation_checks_out_one_connection(engine: AsyncEngine) -> None:
    # The events wait for a dispatcher (as they do under lifespan): only the callback counts.
    kit = MpesaKit(kit_settings("http://127.0.0.1:9"), engine=engine, deliver_events=False)
    checkouts: list[Any] = []
    event.listen(kit.engine.sync_engine, "checkout", lambda *a: checkouts.append(a))
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        response = await post(http, 1)
    assert response.json() == ACCEPTED
    assert len(checkouts) == 1


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
        stuck = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(callback_log)
            .where(callback_log.c.outcome.in_(["FAILED", "RECEIVED"]))
        )
    assert stuck == 0  # every body kept in the database was recorded; the rest spooled
    replay = await kit.replay_spool()
    assert replay.remaining == 0 and replay.quarantined == 0
    async with kit.engine.connect() as conn:
        payments = await conn.scalar(sa.select(sa.func.count()).select_from(payment_items))
        outcomes = (await conn.execute(sa.select(callback_log.c.outcome))).scalars().all()
    assert payments == 40
    assert sorted(set(outcomes)) == ["APPLIED"]
