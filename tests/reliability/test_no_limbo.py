"""A committed body always reaches a terminal outcome, and is always answered Accepted.

The database is cut (by the proxy) exactly between the raw body's commit and
its recording: inside the host's account look-up, which runs between the two.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit import hookimpl
from mpesa_daraja_kit.db.models import callback_log, event_outbox, payment_items
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.events import Account
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from tests.reliability.conftest import confirmation_bytes, via_proxy
from tests.reliability.proxy import TcpProxy
from tests.support import HostPlugin, kit_settings, stk_callback_body

pytestmark = pytest.mark.slow  # a chaos proxy

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def confirmation(n: int) -> bytes:
    return confirmation_bytes(f"UAL{n:07d}")


class CutsTheDatabase(HostPlugin):
    """Cuts the database during the first account look-up: after the commit, before the record."""

    def __init__(self, proxy: TcpProxy) -> None:
        super().__init__()
        self.proxy = proxy
        self.cuts = 1

    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        if self.cuts:
            self.cuts -= 1
            await self.proxy.stop()
        return self.accounts.get(account_reference.upper())


@pytest.fixture
async def kit(
    db_url: str, engine: AsyncEngine, proxy: TcpProxy, tmp_path: Path
) -> AsyncIterator[MpesaKit]:
    settings = kit_settings(
        "http://127.0.0.1:9",
        spool_dir=str(tmp_path / "spool"),
        callback_sweep_after=0.2,
        callback_sweep_interval=0.1,
    )
    kit = MpesaKit(
        settings,
        database_url=via_proxy(db_url, proxy),
        plugins=[CutsTheDatabase(proxy)],
    )
    yield kit
    await kit.aclose()


async def post(kit: MpesaKit, path: str, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        return await http.post(path, content=body, headers={"Content-Type": "application/json"})


async def outcomes(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(callback_log.c.kind, callback_log.c.outcome))).all()
    return sorted((r.kind.value, r.outcome.value) for r in rows)


async def count(engine: AsyncEngine, table: sa.Table, *where: Any) -> int:
    async with engine.connect() as conn:
        stmt = sa.select(sa.func.count()).select_from(table).where(*where)
        return int(await conn.scalar(stmt) or 0)


async def test_a_kept_body_whose_recording_is_cut_is_accepted_and_swept(
    kit: MpesaKit, engine: AsyncEngine, proxy: TcpProxy
) -> None:
    response = await post(kit, "/confirmation", confirmation(1))
    # The raw body was committed: Safaricom must hear Accepted, never a 500.
    assert response.status_code == 200, response.text
    assert response.json() == ACCEPTED
    assert await outcomes(engine) == [("C2B_CONFIRMATION", "RECEIVED")]
    await proxy.start()
    listed = await kit.callbacks.list(outcomes=[CallbackOutcome.RECEIVED])
    assert len(listed) == 1  # visible to operators as not finished
    await asyncio.sleep(0.3)  # older than callback_sweep_after
    swept = await kit.sweep_callbacks()
    assert swept.applied == 1
    assert await outcomes(engine) == [("C2B_CONFIRMATION", "APPLIED")]
    assert await count(engine, payment_items) == 1
    recorded = event_outbox.c.event_type == "mpesa_payment_recorded"
    assert await count(engine, event_outbox, recorded) == 1
    assert (await kit.sweep_callbacks()).applied == 0  # nothing left


async def test_the_spool_replay_cut_before_applying_leaves_work_for_the_sweep(
    kit: MpesaKit, engine: AsyncEngine, proxy: TcpProxy
) -> None:
    assert kit.spool is not None
    kit.spool.spool.append(
        IncomingCallback(kind=CallbackKind.C2B_CONFIRMATION, body=confirmation(2))
    )
    replay = await kit.replay_spool()  # stored, file removed, then the apply is cut
    assert (replay.stored, replay.remaining) == (1, 0)
    assert await outcomes(engine) == [("C2B_CONFIRMATION", "RECEIVED")]

    await proxy.start()
    async with kit.lifespan():  # the background sweep finds it
        for _ in range(100):
            if await outcomes(engine) == [("C2B_CONFIRMATION", "APPLIED")]:
                break
            await asyncio.sleep(0.05)
    assert await outcomes(engine) == [("C2B_CONFIRMATION", "APPLIED")]
    assert await count(engine, payment_items) == 1


async def test_an_stk_callback_whose_apply_is_cut_is_accepted_and_swept(
    kit: MpesaKit, engine: AsyncEngine, proxy: TcpProxy
) -> None:
    # Cut the database right after the raw body commits.
    original = kit.stk._callbacks.store

    async def store_then_cut(incoming: IncomingCallback, **kwargs: Any) -> int:
        log_id = await original(incoming, **kwargs)
        await proxy.stop()
        return log_id

    kit.stk._callbacks.store = store_then_cut  # type: ignore[method-assign]
    body = json.dumps(stk_callback_body("ws_CO_CUT_0001", result_code=1032)).encode()
    response = await post(kit, "/stk-push/callback", body)
    assert response.status_code == 200, response.text
    assert response.json() == ACCEPTED
    kit.stk._callbacks.store = original  # type: ignore[method-assign]
    assert await outcomes(engine) == [("STK_CALLBACK", "RECEIVED")]

    await proxy.start()
    await asyncio.sleep(0.3)
    assert (await kit.sweep_callbacks()).applied == 1
    # Its request is not stored here, so it waits for it (a terminal wait, listed).
    assert await outcomes(engine) == [("STK_CALLBACK", "WAITING")]


async def test_an_interrupted_validation_is_closed_by_the_sweep(
    kit: MpesaKit, engine: AsyncEngine
) -> None:
    log_id = await kit.callbacks.store(
        IncomingCallback(kind=CallbackKind.C2B_VALIDATION, body=confirmation(3))
    )
    await asyncio.sleep(0.3)
    swept = await kit.sweep_callbacks()
    assert (swept.applied, swept.closed) == (0, 1)
    record = await kit.callbacks.get(log_id)
    assert record is not None
    assert (record.outcome, record.error_code) == (CallbackOutcome.FAILED, "callback_interrupted")


async def test_readiness_says_degraded_while_callbacks_are_spooled(
    kit: MpesaKit, engine: AsyncEngine, proxy: TcpProxy
) -> None:
    assert kit.readiness().ready
    await proxy.stop()
    assert (await post(kit, "/confirmation", confirmation(4))).json() == ACCEPTED
    state = kit.readiness()
    assert not state.ready
    assert state.reasons[0].startswith("degraded: database unreachable since ")
    assert state.reasons[0].endswith("; 1 callbacks spooled")

    await proxy.start()
    assert (await kit.replay_spool()).stored == 1
    assert kit.readiness().ready
