"""C2B end to end over real HTTP: the simulator pays, asks our validation URL, confirms.

A Starlette host mounts the kit's apps under a neutral prefix (Safaricom refuses
"mpesa" in C2B URLs) and enters the kit's lifespan from its own; uvicorn serves
it on 127.0.0.1. The URLs are registered with the simulator through the Daraja
client, and payments are started with the client's C2B simulate call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

from mpesa_daraja_kit.client import AsyncDarajaClient
from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, PaymentSource
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.phone import hash_msisdn
from mpesa_daraja_kit.services.callbacks import CallbackLogService
from mpesa_daraja_kit.simulator import C2BStatus, SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator, serve_app_async
from tests.support import HostPlugin, kit_settings, new_phone, wait_until_async

pytestmark = pytest.mark.slow  # a real uvicorn server


@attrs.define
class World:
    client: AsyncDarajaClient
    plugin: HostPlugin
    sim: RunningSimulator
    engine: AsyncEngine

    async def rows(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(sa.select(payment_items))).all())


@pytest.fixture(scope="module")
def simulator() -> AsyncIterator[RunningSimulator]:
    config = SimulatorConfig(callback_delay=0, c2b_validation=True, allow_plain_http=True)
    with run_simulator(config=config) as running:
        yield running  # type: ignore[misc]


@pytest.fixture
async def world(
    db_url: str, engine: AsyncEngine, simulator: RunningSimulator
) -> AsyncIterator[World]:
    plugin = HostPlugin()
    settings = kit_settings(simulator.base_url)
    kit = MpesaKit(settings, database_url=db_url, plugins=[plugin])
    host = Starlette(
        routes=[Mount("/hooks/pay", kit.public_app), Mount("/internal", kit.internal_app)],
        lifespan=lambda app: kit.lifespan(),
    )
    async with serve_app_async(host) as host_url, AsyncDarajaClient(settings) as client:
        await client.register_c2b_urls(
            f"{host_url}/hooks/pay/confirmation", f"{host_url}/hooks/pay/validation"
        )
        yield World(client, plugin, simulator, engine)


async def test_paybill_payment_is_validated_confirmed_and_recorded_once(world: World) -> None:
    phone = new_phone()
    await world.client.c2b_simulate(250, phone, "pol0012345")
    await wait_until_async(lambda: world.plugin.of("mpesa_payment_recorded"), timeout=15)
    (row,) = await world.rows()
    assert row.source is PaymentSource.IPN
    assert row.paid_in == Decimal("250.00")
    assert row.msisdn_hash == hash_msisdn(phone)  # the simulator sends hashed MSISDNs
    assert row.account_number == "pol0012345"
    assert row.host_account_id == "policy-1"
    (payment,) = [
        p for p in world.sim.simulator.payments() if p.trans_id == row.transaction_reference
    ]
    assert payment.status is C2BStatus.COMPLETED
    assert payment.validation_result == "0"
    log = CallbackLogService(world.engine)
    (validation,) = await log.list(kind=CallbackKind.C2B_VALIDATION)
    (confirmed,) = await log.list(kind=CallbackKind.C2B_CONFIRMATION)
    assert validation.outcome is confirmed.outcome is CallbackOutcome.APPLIED
    assert validation.reference == confirmed.reference == row.transaction_reference
    assert len(world.plugin.of("mpesa_payment_recorded")) == 1
    assert world.plugin.of("mpesa_payment_unmatched") == []


async def test_unknown_account_is_rejected_at_validation_and_never_recorded(
    world: World,
) -> None:
    phone = new_phone()
    await world.client.c2b_simulate(100, phone, "NOPOLICY1")

    def ours() -> list[Any]:
        return [p for p in world.sim.simulator.payments() if p.request.msisdn == phone]

    await wait_until_async(lambda: ours() and ours()[0].status is not C2BStatus.PENDING, timeout=15)
    (payment,) = ours()
    assert payment.status is C2BStatus.REJECTED
    assert payment.validation_result == "C2B00012"
    assert await world.rows() == []
    (validation,) = await CallbackLogService(world.engine).list(kind=CallbackKind.C2B_VALIDATION)
    assert validation.error_code == "C2B00012"
    assert world.plugin.events == []
