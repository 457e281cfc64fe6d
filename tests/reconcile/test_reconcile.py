"""Reconciliation against the simulator: silent prompts are settled by STK Push Query."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.services.reconcile import EXPIRED_BY_KIT
from mpesa_daraja_kit.services.stk import StkPushView
from mpesa_daraja_kit.simulator import CallbackMode, Outcome, OutcomeSpec
from mpesa_daraja_kit.testing import RunningSimulator
from tests.reconcile.conftest import CountingTransport, FakeClock, ReconcilePlugin, build_kit
from tests.support import dumps, new_phone, stk_callback_body

SPIKE_ARREST = {
    "requestId": "1-2-3",
    "errorCode": "500.003.02",
    "errorMessage": "Spike arrest violation",
}


async def prompt(
    kit: MpesaKit,
    simulator: RunningSimulator,
    outcome: Outcome = Outcome.SUCCESS,
    *,
    delay: float = 0,
    amount: int = 10,
) -> StkPushView:
    """Start a prompt whose callback never comes; the customer answers after ``delay`` s."""
    phone = new_phone()
    simulator.simulator.queue_outcome(
        OutcomeSpec(outcome=outcome, delay=delay, callback=CallbackMode.NEVER, phone_number=phone)
    )
    view = (await kit.stk.initiate(phone, amount, "POL0012345")).request
    assert view.status is StkPushStatus.PENDING and view.checkout_request_id
    return view


async def success_callback(kit: MpesaKit, view: StkPushView, receipt: str) -> CallbackOutcome:
    assert view.checkout_request_id and view.merchant_request_id
    body = stk_callback_body(
        view.checkout_request_id,
        merchant_request_id=view.merchant_request_id,
        amount=f"{view.amount}",
        receipt=receipt,
    )
    return await kit.stk.handle_callback(
        IncomingCallback(
            kind=CallbackKind.STK_CALLBACK, body=dumps(body), content_type="application/json"
        )
    )


async def test_nothing_is_queried_before_the_first_delay(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, queries: Counter[str]
) -> None:
    await prompt(kit, simulator)
    clock.advance(39)
    report = await kit.reconcile.run_once()
    assert report.claimed == 0
    assert not queries


async def test_no_callback_completed_by_query(
    kit: MpesaKit,
    simulator: RunningSimulator,
    clock: FakeClock,
    queries: Counter[str],
    plugin: ReconcilePlugin,
) -> None:
    view = await prompt(kit, simulator)
    clock.advance(41)
    report = await kit.reconcile.run_once()
    assert (report.queried, report.settled) == (1, 1)
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert done.result_code == "0"
    assert queries[view.checkout_request_id or ""] == 1
    async with kit.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(stk_requests).where(stk_requests.c.id == view.id))
        ).one()
    assert row.verified_at is not None
    assert row.reconcile_attempts == 1
    assert [e.status for e in plugin.of("mpesa_stk_push_updated")] == ["COMPLETED"]
    # A later real callback changes no status and fires no status event; its receipt
    # (which the query lacks) is kept as the record of the money, once.
    assert await success_callback(kit, view, "UAB1CD2EF9") is CallbackOutcome.APPLIED
    assert len(plugin.of("mpesa_stk_push_updated")) == 1
    assert (await kit.stk.get(view.id)).receipt_number == "UAB1CD2EF9"
    assert [e.receipt_number for e in plugin.of("mpesa_payment_recorded")] == ["UAB1CD2EF9"]
    assert await success_callback(kit, view, "UAB1CD2EF9") is CallbackOutcome.DUPLICATE
    assert (await kit.reconcile.run_once()).claimed == 0


async def test_cancelled_by_query(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock
) -> None:
    view = await prompt(kit, simulator, Outcome.CANCELLED)
    clock.advance(41)
    await kit.reconcile.run_once()
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.CANCELLED
    assert done.result_code == "1032"


async def test_still_processing_stays_pending_with_growing_backoff(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, queries: Counter[str]
) -> None:
    view = await prompt(kit, simulator, delay=3600)
    checkout = view.checkout_request_id or ""
    clock.advance(41)
    report = await kit.reconcile.run_once()
    assert (report.queried, report.still_pending) == (1, 1)
    assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING
    # Next query 40 s later, then 80 s later: nothing in between.
    clock.advance(39)
    await kit.reconcile.run_once()
    assert queries[checkout] == 1
    clock.advance(2)
    await kit.reconcile.run_once()
    assert queries[checkout] == 2
    clock.advance(79)
    await kit.reconcile.run_once()
    assert queries[checkout] == 2
    clock.advance(2)
    await kit.reconcile.run_once()
    assert queries[checkout] == 3
    assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING


async def test_timeout_expires_and_a_late_success_still_completes(
    kit: MpesaKit,
    simulator: RunningSimulator,
    clock: FakeClock,
    queries: Counter[str],
    plugin: ReconcilePlugin,
) -> None:
    view = await prompt(kit, simulator, delay=3600)
    for _ in range(12):  # passes every 30 s for six minutes
        clock.advance(30)
        await kit.reconcile.run_once()
    expired = await kit.stk.get(view.id)
    assert expired.status is StkPushStatus.EXPIRED
    assert expired.result_code == EXPIRED_BY_KIT
    # 40, 80, 160 s after initiation, then once more at the 300 s deadline.
    assert 3 <= queries[view.checkout_request_id or ""] <= 4
    # Money moved after all: the success callback wins over EXPIRED.
    assert await success_callback(kit, view, "UAB1CD2EF8") is CallbackOutcome.APPLIED
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert done.receipt_number == "UAB1CD2EF8"
    assert [e.status for e in plugin.of("mpesa_stk_push_updated")] == ["EXPIRED", "COMPLETED"]


async def test_outcome_unknown_is_never_queried_but_expires(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, queries: Counter[str]
) -> None:
    view = await prompt(kit, simulator, delay=3600)
    async with kit.engine.begin() as conn:
        # As if the initiate call timed out after sending: no CheckoutRequestID known.
        await conn.execute(
            sa.update(stk_requests)
            .where(stk_requests.c.id == view.id)
            .values(checkout_request_id=None, outcome_unknown=True)
        )
    clock.advance(41)
    await kit.reconcile.run_once()
    assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING
    clock.advance(260)
    await kit.reconcile.run_once()
    assert (await kit.stk.get(view.id)).status is StkPushStatus.EXPIRED
    assert not queries


async def test_attempt_cap_then_expiry(
    engine: AsyncEngine,
    simulator: RunningSimulator,
    clock: FakeClock,
    queries: Counter[str],
) -> None:
    kit = build_kit(engine, simulator, clock, queries, ReconcilePlugin(), reconcile_max_attempts=1)
    try:
        view = await prompt(kit, simulator, delay=3600)
        for _ in range(12):
            clock.advance(30)
            await kit.reconcile.run_once()
        assert queries[view.checkout_request_id or ""] == 1
        assert (await kit.stk.get(view.id)).status is StkPushStatus.EXPIRED
    finally:
        await kit.client.aclose()


async def test_spike_arrest_stops_the_pass_and_counts_no_attempt(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, queries: Counter[str]
) -> None:
    first = await prompt(kit, simulator)
    second = await prompt(kit, simulator)
    transport = kit.client._http._transport
    assert isinstance(transport, CountingTransport)
    transport.fail_queries_with = SPIKE_ARREST
    clock.advance(41)
    report = await kit.reconcile.run_once()
    assert report.rate_limited
    assert report.queried == 1  # the second request was handed back, not queried
    assert sum(queries.values()) == 3  # one query, tried three times by the client
    for view in (first, second):
        assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING
    transport.fail_queries_with = None
    clock.advance(41)
    report = await kit.reconcile.run_once()
    assert report.settled == 2


async def test_the_loop_slows_down_on_spike_arrest(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock
) -> None:
    waits: list[float] = []
    passes = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds + 60)  # the request is due again at the next pass
        if len(waits) >= 3:
            passes.set()
            await asyncio.Event().wait()  # park until stopped
        await asyncio.sleep(0)

    await prompt(kit, simulator)
    transport = kit.client._http._transport
    assert isinstance(transport, CountingTransport)
    transport.fail_queries_with = SPIKE_ARREST
    clock.advance(3600)
    kit.reconcile._sleep = sleep
    kit.reconcile.start()
    try:
        await asyncio.wait_for(passes.wait(), 10)
    finally:
        await kit.reconcile.stop()
    interval = kit.settings.reconcile_interval
    assert waits[:3] == [interval * 2, interval * 4, interval * 8]


async def test_missing_ipn_fires_once_and_not_when_confirmed(
    engine: AsyncEngine,
    simulator: RunningSimulator,
    clock: FakeClock,
    queries: Counter[str],
) -> None:
    plugin = ReconcilePlugin()
    kit = build_kit(
        engine, simulator, clock, queries, plugin, c2b_urls_registered=True, missing_ipn_after=600
    )
    try:
        lonely = await prompt(kit, simulator, delay=3600)
        confirmed = await prompt(kit, simulator, delay=3600)
        await success_callback(kit, lonely, "UAB1CD2EA1")
        await success_callback(kit, confirmed, "UAB1CD2EA2")
        async with kit.engine.begin() as conn:
            # The C2B confirmation of the second payment arrived.
            await conn.execute(
                sa.update(payment_items)
                .where(payment_items.c.transaction_reference == "UAB1CD2EA2")
                .values(confirmed_by_ipn_at=clock())
            )
        clock.advance(599)
        assert (await kit.reconcile.run_once()).missing_ipn == 0
        clock.advance(2)
        assert (await kit.reconcile.run_once()).missing_ipn == 1
        assert (await kit.reconcile.run_once()).missing_ipn == 0
        (event,) = plugin.of("mpesa_stk_push_missing_ipn")
        assert event.stk_push_request_id == str(lonely.id)
        assert event.receipt_number == "UAB1CD2EA1"
        assert event.amount == Decimal("10.00")
    finally:
        await kit.client.aclose()


async def test_missing_ipn_is_off_without_registered_urls(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock, plugin: ReconcilePlugin
) -> None:
    view = await prompt(kit, simulator, delay=3600)
    await success_callback(kit, view, "UAB1CD2EA3")
    clock.advance(7200)
    assert (await kit.reconcile.run_once()).missing_ipn == 0
    assert not plugin.of("mpesa_stk_push_missing_ipn")


async def test_two_reconcilers_query_each_request_once(
    engine: AsyncEngine, simulator: RunningSimulator, clock: FakeClock
) -> None:
    queries: Counter[str] = Counter()
    kits = [build_kit(engine, simulator, clock, queries, ReconcilePlugin()) for _ in range(2)]
    try:
        views = [await prompt(kits[0], simulator, delay=3600) for _ in range(12)]
        clock.advance(41)
        reports = await asyncio.gather(*(k.reconcile.run_once() for k in kits))
        assert sum(r.queried for r in reports) == 12
        assert {v.checkout_request_id for v in views} == set(queries)
        assert set(queries.values()) == {1}
    finally:
        for k in kits:
            await k.client.aclose()
