"""Verification: a success callback is trusted only once STK Push Query confirms it."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.stk import UNVERIFIED
from mpesa_daraja_kit.simulator import Outcome
from mpesa_daraja_kit.testing import RunningSimulator
from tests.reconcile.conftest import FakeClock, ReconcilePlugin, build_kit
from tests.reconcile.test_reconcile import prompt, success_callback


@pytest.fixture
async def kit(
    engine: AsyncEngine,
    simulator: RunningSimulator,
    clock: FakeClock,
    queries: Counter[str],
    plugin: ReconcilePlugin,
) -> AsyncIterator[MpesaKit]:
    kit = build_kit(engine, simulator, clock, queries, plugin, verify_stk_success=True)
    try:
        yield kit
    finally:
        await kit.client.aclose()


async def payments(kit: MpesaKit) -> int:
    async with kit.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(payment_items)) or 0)


async def test_forged_success_while_daraja_says_processing_is_not_applied(
    kit: MpesaKit, simulator: RunningSimulator, queries: Counter[str], plugin: ReconcilePlugin
) -> None:
    view = await prompt(kit, simulator, delay=3600)
    assert await success_callback(kit, view, "FORGED0001") is CallbackOutcome.FAILED
    assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING
    assert await payments(kit) == 0
    assert not plugin.of("mpesa_stk_push_updated")
    (stored,) = await kit.callbacks.list(kind=CallbackKind.STK_CALLBACK)
    assert stored.outcome is CallbackOutcome.FAILED
    assert stored.error_code == UNVERIFIED
    assert queries[view.checkout_request_id or ""] == 1


async def test_forged_success_for_a_cancelled_prompt_is_not_applied(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock
) -> None:
    view = await prompt(kit, simulator, Outcome.CANCELLED)
    assert await success_callback(kit, view, "FORGED0002") is CallbackOutcome.FAILED
    assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING
    assert await payments(kit) == 0
    # Reconciliation settles it with Daraja's answer.
    clock.advance(41)
    await kit.reconcile.run_once()
    assert (await kit.stk.get(view.id)).status is StkPushStatus.CANCELLED
    assert await payments(kit) == 0


async def test_forged_amount_is_refused_without_asking(
    kit: MpesaKit, simulator: RunningSimulator, queries: Counter[str]
) -> None:
    view = await prompt(kit, simulator)
    forged = attrs.evolve(view, amount=view.amount + 1)
    assert await success_callback(kit, forged, "FORGED0003") is CallbackOutcome.FAILED
    assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING
    assert not queries


async def test_confirmed_success_completes_and_records_verification(
    kit: MpesaKit, simulator: RunningSimulator
) -> None:
    view = await prompt(kit, simulator)
    assert await success_callback(kit, view, "UAB1VER001") is CallbackOutcome.APPLIED
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert done.receipt_number == "UAB1VER001"
    async with kit.engine.connect() as conn:
        verified_at = await conn.scalar(
            sa.select(stk_requests.c.verified_at).where(stk_requests.c.id == view.id)
        )
    assert verified_at is not None
    assert await payments(kit) == 1


async def test_held_back_success_gives_its_receipt_when_reconciliation_confirms(
    kit: MpesaKit, simulator: RunningSimulator, clock: FakeClock
) -> None:
    view = await prompt(kit, simulator, delay=3600)
    assert await success_callback(kit, view, "UAB1VER002") is CallbackOutcome.FAILED
    # The customer pays; Daraja now answers the query with success.
    tx = simulator.simulator.transaction(view.checkout_request_id or "")
    assert tx is not None
    simulator.simulator.flows.finish_stk(tx)
    clock.advance(41)
    await kit.reconcile.run_once()
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert done.receipt_number == "UAB1VER002"
    assert await payments(kit) == 1
    (stored,) = await kit.callbacks.list(kind=CallbackKind.STK_CALLBACK)
    assert stored.outcome is CallbackOutcome.APPLIED
