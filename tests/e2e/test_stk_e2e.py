"""STK Push end to end over real HTTP: a uvicorn host, the kit, and the simulator as Daraja."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.simulator.config import CallbackMode, Outcome
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator, serve_app_async
from tests.e2e.host import LateKitHost
from tests.support import API_KEY, HostPlugin, kit_settings, new_phone, wait_until_async

pytestmark = pytest.mark.slow  # a real uvicorn server

AUTH = {"X-API-Key": API_KEY}


@attrs.define
class World:
    host_url: str
    http: httpx.AsyncClient
    plugin: HostPlugin
    sim: RunningSimulator

    async def initiate(self, phone: str, amount: int = 250) -> dict[str, object]:
        response = await self.http.post(
            "/api/internal/mpesa/stk-push/initiate",
            json={"phoneNumber": phone, "amount": amount, "accountReference": "POL0012345"},
            headers=AUTH,
        )
        assert response.status_code == 201, response.text
        dto: dict[str, object] = response.json()
        return dto

    async def status(self, request_id: object) -> dict[str, object]:
        response = await self.http.get(f"/api/internal/mpesa/stk-push/{request_id}", headers=AUTH)
        assert response.status_code == 200, response.text
        dto: dict[str, object] = response.json()
        return dto

    async def settled(self, request_id: object) -> dict[str, object]:
        latest: dict[str, object] = {}

        async def done() -> bool:
            latest.update(await self.status(request_id))
            return latest["status"] != "PENDING"

        await wait_until_async(done, timeout=15)
        return latest


@pytest.fixture(scope="module")
def simulator() -> AsyncIterator[RunningSimulator]:
    with run_simulator(config=SimulatorConfig(callback_delay=0.2)) as running:
        yield running  # type: ignore[misc]


@pytest.fixture
async def world(
    db_url: str, engine: AsyncEngine, simulator: RunningSimulator
) -> AsyncIterator[World]:
    plugin = HostPlugin()
    host = LateKitHost()
    async with serve_app_async(host) as host_url:
        settings = kit_settings(simulator.base_url, callback_base=f"{host_url}/api/public/mpesa")
        host.attach(MpesaKit(settings, database_url=db_url, plugins=[plugin]))
        async with httpx.AsyncClient(base_url=host_url, timeout=20) as http:
            yield World(host_url, http, plugin, simulator)


async def test_prompt_paid_completes_and_events_arrive_once(world: World) -> None:
    dto = await world.initiate(new_phone())
    final = await world.settled(dto["id"])
    assert final["status"] == "COMPLETED"
    assert final["resultCode"] == "0"
    receipt = final["mpesaReceiptNumber"]
    assert isinstance(receipt, str)
    assert len(receipt) == 10
    assert final["linkedTransactionId"] == receipt

    await wait_until_async(lambda: len(world.plugin.of("mpesa_payment_linked")) == 1)
    assert [e.status for e in world.plugin.of("mpesa_stk_push_updated")] == ["COMPLETED"]
    assert [e.receipt_number for e in world.plugin.of("mpesa_payment_recorded")] == [receipt]
    assert [e.source for e in world.plugin.of("mpesa_payment_recorded")] == ["STK_CALLBACK"]
    (delivery,) = world.sim.simulator.deliveries("stk_callback")[-1:]
    assert delivery.status_code == 200


@pytest.mark.parametrize(
    ("outcome", "status", "code"),
    [
        (Outcome.CANCELLED, "CANCELLED", "1032"),
        (Outcome.TIMEOUT, "EXPIRED", "1037"),
        (Outcome.INSUFFICIENT_FUNDS, "FAILED", "1"),
    ],
)
async def test_unpaid_outcomes(world: World, outcome: Outcome, status: str, code: str) -> None:
    phone = new_phone()
    world.sim.simulator.queue_outcome(outcome, phone_number=phone)
    dto = await world.initiate(phone)
    final = await world.settled(dto["id"])
    assert (final["status"], final["resultCode"]) == (status, code)
    assert final["mpesaReceiptNumber"] is None
    await wait_until_async(lambda: len(world.plugin.of("mpesa_stk_push_updated")) == 1)
    assert world.plugin.of("mpesa_payment_recorded") == []


async def test_no_callback_leaves_the_request_pending(world: World) -> None:
    phone = new_phone()
    world.sim.simulator.queue_outcome(
        Outcome.SUCCESS, phone_number=phone, callback=CallbackMode.NEVER
    )
    dto = await world.initiate(phone)
    checkout = dto["checkoutRequestID"]
    assert isinstance(checkout, str)
    # The simulator settles the prompt but never calls back: only a query can tell.
    await wait_until_async(
        lambda: (t := world.sim.simulator.transaction(checkout)) is not None and not t.pending
    )
    assert (await world.status(dto["id"]))["status"] == "PENDING"
    assert world.plugin.of("mpesa_stk_push_updated") == []


async def test_callback_before_the_initiate_response(world: World) -> None:
    phone = new_phone()
    world.sim.simulator.queue_outcome(
        Outcome.SUCCESS, phone_number=phone, callback=CallbackMode.BEFORE_RESPONSE
    )
    dto = await world.initiate(phone)
    final = await world.settled(dto["id"])
    assert final["status"] == "COMPLETED"
    await wait_until_async(lambda: len(world.plugin.of("mpesa_payment_recorded")) == 1)


async def test_duplicate_callback_delivery_changes_nothing(world: World) -> None:
    phone = new_phone()
    world.sim.simulator.queue_outcome(
        Outcome.SUCCESS, phone_number=phone, callback=CallbackMode.TWICE
    )
    dto = await world.initiate(phone)
    await world.settled(dto["id"])
    checkout = dto["checkoutRequestID"]
    await wait_until_async(
        lambda: (
            len(
                [
                    d
                    for d in world.sim.simulator.deliveries("stk_callback")
                    if d.reference == checkout
                ]
            )
            == 2
        )
    )
    await wait_until_async(lambda: len(world.plugin.of("mpesa_payment_linked")) == 1)
    assert len(world.plugin.of("mpesa_stk_push_updated")) == 1
    assert len(world.plugin.of("mpesa_payment_recorded")) == 1
