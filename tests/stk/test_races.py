"""Races and late arrivals between an STK callback, a C2B confirmation and reconciliation."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import sqlalchemy as sa

from mpesa_daraja_kit.clock import format_daraja_timestamp, utc_now
from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.phone import hash_msisdn
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.services.stk import Settlement
from tests.conftest import load_fixture
from tests.support import HostPlugin, dumps, new_phone, stk_callback_body


def stk(checkout: str, receipt: str, phone: str) -> IncomingCallback:
    body = stk_callback_body(checkout, receipt=receipt, phone=int(phone))
    return IncomingCallback(kind=CallbackKind.STK_CALLBACK, body=dumps(body))


def c2b(
    receipt: str, phone: str, amount: str = "1.00", *, late_by: timedelta = timedelta(0)
) -> IncomingCallback:
    body = load_fixture("c2b_confirmation_hashed_msisdn")
    body.update(
        TransID=receipt,
        MSISDN=hash_msisdn(phone),
        TransAmount=amount,
        TransTime=format_daraja_timestamp(utc_now() + late_by),
    )
    return IncomingCallback(kind=CallbackKind.C2B_CONFIRMATION, body=json.dumps(body).encode())


async def rows_for(kit: MpesaKit, receipt: str) -> list[sa.Row[object]]:
    async with kit.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(payment_items).where(payment_items.c.transaction_reference == receipt)
                )
            ).all()
        )


async def test_callback_and_confirmation_for_one_receipt_at_the_same_moment(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    # Opposite lock orders used to deadlock on PostgreSQL and MariaDB: one side is
    # now retried, and neither may fail or be answered with an error.
    for n in range(8):
        phone = new_phone()
        view = (await kit.stk.initiate(phone, 1, "POL0012345")).request
        assert view.checkout_request_id
        receipt = f"URACE{n:05d}"
        outcomes = await asyncio.gather(
            kit.stk.handle_callback(stk(view.checkout_request_id, receipt, phone)),
            kit.c2b.handle_confirmation(c2b(receipt, phone)),
        )
        assert outcomes == [CallbackOutcome.APPLIED, CallbackOutcome.APPLIED]
        (row,) = await rows_for(kit, receipt)
        assert row.mpesa_stk_push_request_id == view.id
        assert row.confirmed_by_ipn_at is not None
        assert row.confirmed_by_stk_at is not None
        assert (await kit.stk.get(view.id)).status is StkPushStatus.COMPLETED
    receipts = [e.receipt_number for e in plugin.of("mpesa_payment_recorded")]
    assert sorted(receipts) == sorted(set(receipts))
    assert len(receipts) == 8


async def test_a_success_callback_after_a_query_completed_the_request_records_the_money(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = (await kit.stk.initiate(phone, 1, "POL0012345")).request
    assert view.checkout_request_id
    # Reconciliation: STK Push Query says paid, but carries no receipt.
    await kit.stk.settle(
        view.id,
        Settlement(
            status=StkPushStatus.COMPLETED, result_code="0", result_desc="ok", verified=True
        ),
    )
    assert await rows_for(kit, "ULATE00001") == []
    outcome = await kit.stk.handle_callback(stk(view.checkout_request_id, "ULATE00001", phone))
    assert outcome is CallbackOutcome.APPLIED
    (row,) = await rows_for(kit, "ULATE00001")
    assert row.mpesa_stk_push_request_id == view.id
    assert (await kit.stk.get(view.id)).receipt_number == "ULATE00001"
    assert [e.status for e in plugin.of("mpesa_stk_push_updated")] == ["COMPLETED"]  # no second
    assert [e.receipt_number for e in plugin.of("mpesa_payment_recorded")] == ["ULATE00001"]
    again = await kit.stk.handle_callback(stk(view.checkout_request_id, "ULATE00001", phone))
    assert again is CallbackOutcome.DUPLICATE


async def test_a_callback_the_database_refuses_is_kept_failed_never_raised(kit: MpesaKit) -> None:
    phone = new_phone()
    view = (await kit.stk.initiate(phone, 1, "POL0012345")).request
    assert view.checkout_request_id
    too_long = "U" * 60  # no M-Pesa receipt; longer than the receipt column
    outcome = await kit.stk.handle_callback(stk(view.checkout_request_id, too_long, phone))
    assert outcome is CallbackOutcome.FAILED
    (logged,) = await kit.callbacks.list(kind=CallbackKind.STK_CALLBACK)
    assert logged.outcome is CallbackOutcome.FAILED
    assert phone not in (logged.error_message or "")
    assert (await kit.stk.get(view.id)).status is StkPushStatus.PENDING


async def test_a_receipt_with_stray_spaces_is_one_payment_from_both_sources(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = (await kit.stk.initiate(phone, 1, "POL0012345")).request
    assert view.checkout_request_id
    await kit.stk.handle_callback(stk(view.checkout_request_id, "USPACE0001 ", phone))
    await kit.c2b.handle_confirmation(c2b("USPACE0001", phone))
    (row,) = await rows_for(kit, "USPACE0001")
    assert row.confirmed_by_ipn_at is not None
    assert len(plugin.of("mpesa_payment_recorded")) == 1


async def test_a_re_sent_expired_prompt_does_not_take_the_paid_prompts_money(
    engine: object, simulator: object, plugin: HostPlugin
) -> None:
    from tests.support import kit_settings, make_kit

    kit = make_kit(engine, kit_settings(simulator.base_url, stk_duplicate_window=0), plugin)  # type: ignore[arg-type,attr-defined]
    phone = new_phone()
    paid = (await kit.stk.initiate(phone, 1, "POL0012345")).request  # the customer pays this
    resent = (await kit.stk.initiate(phone, 1, "POL0012345")).request  # an agent re-sent it
    assert paid.checkout_request_id
    await kit.stk.settle(
        resent.id, Settlement(status=StkPushStatus.EXPIRED, result_code="1037", result_desc="x")
    )
    # The confirmation of the paid prompt's money comes before its STK callback, stamped
    # after both prompts were made: the re-sent one is nearer in time, yet expired.
    await kit.c2b.handle_confirmation(c2b("URESENT001", phone, late_by=timedelta(seconds=2)))
    outcome = await kit.stk.handle_callback(stk(paid.checkout_request_id, "URESENT001", phone))
    assert outcome is CallbackOutcome.APPLIED
    assert (await kit.stk.get(paid.id)).status is StkPushStatus.COMPLETED
    assert (await kit.stk.get(paid.id)).receipt_number == "URESENT001"
    assert (await kit.stk.get(resent.id)).status is StkPushStatus.EXPIRED
    assert (await kit.stk.get(resent.id)).receipt_number is None
    (row,) = await rows_for(kit, "URESENT001")
    assert row.mpesa_stk_push_request_id == paid.id
    await kit.client.aclose()
