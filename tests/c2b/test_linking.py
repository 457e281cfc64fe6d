"""Linking C2B payments to STK pushes: by receipt in either order, by phone hash otherwise."""

from __future__ import annotations

from mpesa_daraja_kit.enums import CallbackOutcome, PaymentSource, StkPushStatus
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.views import StkPushView
from tests.c2b.conftest import confirmation, confirmation_body, hashed, payments, stk_callback
from tests.support import HostPlugin, new_phone


async def prompt(kit: MpesaKit, phone: str, amount: int = 1) -> StkPushView:
    view = (await kit.stk.initiate(phone, amount, "POL0012345")).request
    assert view.checkout_request_id
    return view


async def test_stk_callback_then_confirmation_is_one_payment_and_one_link(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = await prompt(kit, phone)
    assert view.checkout_request_id
    await kit.stk.handle_callback(
        stk_callback(view.checkout_request_id, receipt="SGB1", phone=phone)
    )
    body = confirmation_body(TransID="SGB1", MSISDN=hashed(phone))
    assert await kit.c2b.handle_confirmation(confirmation(body)) is CallbackOutcome.APPLIED
    (row,) = await payments(kit)
    assert row.mpesa_stk_push_request_id == view.id
    assert row.link_method == "receipt"
    assert row.source is PaymentSource.STK_CALLBACK
    assert row.confirmed_by_ipn_at is not None
    assert (await kit.stk.get(view.id)).linked_transaction_id == "SGB1"
    assert [e.method for e in plugin.of("mpesa_payment_linked")] == ["receipt"]
    assert len(plugin.of("mpesa_payment_recorded")) == 1


async def test_confirmation_then_stk_callback_is_one_payment_and_one_link(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = await prompt(kit, phone)
    assert view.checkout_request_id
    body = confirmation_body(TransID="SGB2", MSISDN=hashed(phone))
    await kit.c2b.handle_confirmation(confirmation(body))
    outcome = await kit.stk.handle_callback(
        stk_callback(view.checkout_request_id, receipt="SGB2", phone=phone)
    )
    assert outcome is CallbackOutcome.APPLIED
    (row,) = await payments(kit)
    assert row.source is PaymentSource.IPN  # the confirmation came first
    assert row.mpesa_stk_push_request_id == view.id
    assert row.link_method == "receipt"  # the callback's receipt proved the guess
    assert row.confirmed_by_stk_at is not None
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert done.linked_transaction_id == "SGB2"
    assert len(plugin.of("mpesa_payment_linked")) == 1
    assert [e.source for e in plugin.of("mpesa_payment_recorded")] == ["IPN"]


async def test_masked_confirmation_then_stk_callback_links_by_receipt(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = await prompt(kit, phone)
    assert view.checkout_request_id
    masked = f"{phone[:4]} ***** {phone[-3:]}"
    await kit.c2b.handle_confirmation(
        confirmation(confirmation_body(TransID="SGB3", MSISDN=masked))
    )
    (unlinked,) = await payments(kit)
    assert unlinked.mpesa_stk_push_request_id is None  # a mask matches nothing
    await kit.stk.handle_callback(
        stk_callback(view.checkout_request_id, receipt="SGB3", phone=phone)
    )
    (row,) = await payments(kit)
    assert row.mpesa_stk_push_request_id == view.id
    assert [e.method for e in plugin.of("mpesa_payment_linked")] == ["receipt"]


async def test_hashed_msisdn_links_heuristically_without_a_receipt(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = await prompt(kit, phone, amount=500)
    body = confirmation_body(
        MSISDN=hashed(phone), TransAmount="500.00", BillRefNumber=" pol0012345"
    )
    await kit.c2b.handle_confirmation(confirmation(body))
    (row,) = await payments(kit)
    assert row.mpesa_stk_push_request_id == view.id
    assert row.link_method == "heuristic"
    assert (await kit.stk.get(view.id)).linked_transaction_id == body["TransID"]
    (linked,) = plugin.of("mpesa_payment_linked")
    assert (linked.method, linked.stk_push_request_id) == ("heuristic", str(view.id))


async def test_heuristic_needs_the_same_phone_and_amount(kit: MpesaKit, plugin: HostPlugin) -> None:
    phone = new_phone()
    await prompt(kit, phone, amount=500)
    await kit.c2b.handle_confirmation(
        confirmation(confirmation_body(MSISDN=hashed(new_phone()), TransAmount="500.00"))
    )
    await kit.c2b.handle_confirmation(
        confirmation(confirmation_body(MSISDN=hashed(phone), TransAmount="499.00"))
    )
    assert [r.mpesa_stk_push_request_id for r in await payments(kit)] == [None, None]
    assert plugin.of("mpesa_payment_linked") == []


async def test_second_payment_does_not_steal_a_linked_request(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = await prompt(kit, phone, amount=500)
    first = confirmation_body(MSISDN=hashed(phone), TransAmount="500.00")
    second = confirmation_body(MSISDN=hashed(phone), TransAmount="500.00")
    await kit.c2b.handle_confirmation(confirmation(first))
    await kit.c2b.handle_confirmation(confirmation(second))
    links = {r.transaction_reference: r.mpesa_stk_push_request_id for r in await payments(kit)}
    assert links == {first["TransID"]: view.id, second["TransID"]: None}
    assert (await kit.stk.get(view.id)).linked_transaction_id == first["TransID"]
    assert len(plugin.of("mpesa_payment_linked")) == 1
