"""Money received and linked to a prompt means the prompt is paid, whatever comes after.

A C2B confirmation links a PENDING prompt by the heuristic (same account,
phone hash, amount) while Daraja has not answered, or answers "being
processed", or the push's outcome is unknown; or Daraja's query then answers
cancelled. The reconciler must complete the prompt, never expire or fail it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.clock import format_daraja_timestamp
from mpesa_daraja_kit.db.models import stk_requests
from mpesa_daraja_kit.enums import CallbackKind, StkPushStatus
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.phone import hash_msisdn
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.services.views import StkPushView
from mpesa_daraja_kit.simulator import CallbackMode, Outcome, OutcomeSpec, SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator
from tests.conftest import load_fixture
from tests.reconcile.conftest import FakeClock, ReconcilePlugin, build_kit
from tests.support import new_phone


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    config = SimulatorConfig(callback_delay=0, allow_plain_http=True, timestamp_tolerance=86400)
    with run_simulator(config=config) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def plugin() -> ReconcilePlugin:
    return ReconcilePlugin()


@pytest.fixture
async def kit(
    engine: AsyncEngine, simulator: RunningSimulator, clock: FakeClock, plugin: ReconcilePlugin
) -> AsyncIterator[MpesaKit]:
    kit = build_kit(engine, simulator, clock, Counter(), plugin)
    try:
        yield kit
    finally:
        await kit.client.aclose()


async def prompt(
    kit: MpesaKit, simulator: RunningSimulator, outcome: Outcome, delay: float
) -> tuple[StkPushView, str]:
    phone = new_phone()
    simulator.simulator.queue_outcome(
        OutcomeSpec(outcome=outcome, delay=delay, callback=CallbackMode.NEVER, phone_number=phone)
    )
    view = (await kit.stk.initiate(phone, 10, "POL0012345")).request
    assert view.status is StkPushStatus.PENDING
    return view, phone


async def pay_by_paybill(kit: MpesaKit, clock: FakeClock, phone: str, receipt: str) -> None:
    body = load_fixture("c2b_confirmation_hashed_msisdn")
    body.update(
        TransID=receipt,
        TransTime=format_daraja_timestamp(clock.now),
        TransAmount="10.00",
        BillRefNumber="POL0012345",
        MSISDN=hash_msisdn(phone),
    )
    await kit.c2b.handle_confirmation(
        IncomingCallback(
            kind=CallbackKind.C2B_CONFIRMATION,
            body=json.dumps(body).encode(),
            content_type="application/json",
        )
    )
    (payment,) = [p for p in await kit.payments.list() if p.transaction_reference == receipt]
    assert payment.mpesa_stk_push_request_id is not None  # linked by the heuristic


async def run_past_the_deadline(kit: MpesaKit, clock: FakeClock) -> None:
    for _ in range(12):  # passes every 30 s for six minutes (the deadline is 300 s)
        clock.advance(30)
        await kit.reconcile.run_once()


def statuses(plugin: ReconcilePlugin) -> list[tuple[str, str]]:
    return [(e.previous_status, e.status) for e in plugin.of("mpesa_stk_push_updated")]


async def test_a_linked_prompt_still_processing_at_the_deadline_is_completed(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, plugin: ReconcilePlugin
) -> None:
    view, phone = await prompt(kit, simulator, Outcome.SUCCESS, delay=3600)
    await pay_by_paybill(kit, clock, phone, "UBL1NK0001")
    await run_past_the_deadline(kit, clock)
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert statuses(plugin) == [("PENDING", "COMPLETED")]
    assert plugin.of("mpesa_stk_push_updated")[0].receipt_number == "UBL1NK0001"


async def test_a_linked_prompt_the_query_calls_cancelled_is_completed(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, plugin: ReconcilePlugin
) -> None:
    view, phone = await prompt(kit, simulator, Outcome.CANCELLED, delay=0)
    await pay_by_paybill(kit, clock, phone, "UBL1NK0002")
    await run_past_the_deadline(kit, clock)
    assert (await kit.stk.get(view.id)).status is StkPushStatus.COMPLETED
    assert statuses(plugin) == [("PENDING", "COMPLETED")]


async def test_a_linked_prompt_whose_push_outcome_is_unknown_is_completed(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, plugin: ReconcilePlugin
) -> None:
    view, phone = await prompt(kit, simulator, Outcome.SUCCESS, delay=3600)
    async with kit.engine.begin() as conn:  # as if the initiate call timed out after sending
        await conn.execute(
            sa.update(stk_requests)
            .where(stk_requests.c.id == view.id)
            .values(checkout_request_id=None, outcome_unknown=True)
        )
    await pay_by_paybill(kit, clock, phone, "UBL1NK0003")
    await run_past_the_deadline(kit, clock)
    assert (await kit.stk.get(view.id)).status is StkPushStatus.COMPLETED
    assert statuses(plugin) == [("PENDING", "COMPLETED")]
