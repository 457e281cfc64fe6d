"""Abuse limits on STK initiation, counted in the database (so across workers)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.errors import RateLimited
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.testing import RunningSimulator
from tests.reconcile.conftest import FakeClock, ReconcilePlugin, build_kit
from tests.reconcile.conftest import simulator as simulator
from tests.support import API_KEY, dumps, new_phone, stk_callback_body


@pytest.fixture
async def make(
    engine: AsyncEngine,
    simulator: RunningSimulator,
) -> AsyncIterator[Any]:
    kits: list[MpesaKit] = []
    clock = FakeClock()

    def build(**overrides: Any) -> MpesaKit:
        kit = build_kit(engine, simulator, clock, Counter(), ReconcilePlugin(), **overrides)
        kits.append(kit)
        return kit

    build.clock = clock  # type: ignore[attr-defined]
    yield build
    for kit in kits:
        await kit.client.aclose()


async def cancel(kit: MpesaKit, checkout_request_id: str | None) -> None:
    assert checkout_request_id
    await kit.stk.handle_callback(
        IncomingCallback(
            kind=CallbackKind.STK_CALLBACK,
            body=dumps(stk_callback_body(checkout_request_id, 1032)),
            content_type="application/json",
        )
    )


async def test_a_phone_gets_at_most_three_prompts_in_ten_minutes(make: Any) -> None:
    kit = make()
    phone = new_phone()
    for _ in range(3):
        view = (await kit.stk.initiate(phone, 10, "POL0012345")).request
        await cancel(kit, view.checkout_request_id)
    with pytest.raises(RateLimited) as info:
        await kit.stk.initiate(phone, 10, "POL0012345")
    assert info.value.details["scope"] == "phone"
    assert 1 <= info.value.details["retry_after"] <= 600
    assert phone not in str(info.value) and phone[3:] not in str(info.value.to_dict())
    # Another phone is not affected; ten minutes later the phone may be prompted again.
    await kit.stk.initiate(new_phone(), 10, "POL0012345")
    make.clock.advance(601)
    await kit.stk.initiate(phone, 10, "POL0012345")


async def test_a_second_worker_sees_the_same_count(make: Any) -> None:
    first, second = make(), make()
    phone = new_phone()
    for kit in (first, second, first):
        view = (await kit.stk.initiate(phone, 10, "POL0012345")).request
        await cancel(kit, view.checkout_request_id)
    with pytest.raises(RateLimited):
        await second.stk.initiate(phone, 10, "POL0012345")


async def test_principal_limit_answers_429_with_retry_after(make: Any) -> None:
    kit = make(stk_rate_principal_limit=2, stk_rate_principal_window=60)
    transport = httpx.ASGITransport(app=kit.internal_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        statuses = []
        for _ in range(3):
            response = await client.post(
                "/stk-push/initiate",
                json={"phoneNumber": new_phone(), "amount": 10, "accountReference": "POL0012345"},
                headers={"X-API-Key": API_KEY},
            )
            statuses.append(response.status_code)
    assert statuses == [201, 201, 429]
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_limits_can_be_switched_off(make: Any) -> None:
    kit = make(stk_rate_phone_limit=0)
    phone = new_phone()
    for _ in range(5):
        view = (await kit.stk.initiate(phone, 10, "POL0012345")).request
        await cancel(kit, view.checkout_request_id)
