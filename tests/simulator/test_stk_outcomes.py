"""Every STK outcome and delivery fault, end to end with a real callback receiver."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

import pytest

from mpesa_daraja_kit.clock import KENYA_TZ, parse_daraja_timestamp
from tests.conftest import load_fixture
from tests.simulator.conftest import CONFIRMATION_PATH, STK_PATH, MakeDaraja
from tests.simulator.raw import RawDaraja
from tests.simulator.receiver import CallbackReceiver

SANDBOX_PHONE = "254708374149"


def _callback(received: Any) -> dict[str, Any]:
    body: dict[str, Any] = received.body["Body"]["stkCallback"]
    return body


def _items(callback: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item.get("Value") for item in callback["CallbackMetadata"]["Item"]}


def _push(daraja: RawDaraja, phone: str = SANDBOX_PHONE, **overrides: Any) -> dict[str, Any]:
    return daraja.stk_push_ok(PhoneNumber=phone, PartyA=phone, **overrides)


def test_success_callback_has_the_real_shape(daraja: RawDaraja, receiver: CallbackReceiver) -> None:
    answer = _push(daraja, AccountReference="POL0012345", Amount=1)

    [received] = receiver.wait_for(1, STK_PATH)

    assert received.content_type == "application/json"
    callback = _callback(received)
    fixture = load_fixture("stk_callback_success")["Body"]["stkCallback"]
    assert list(callback) == list(fixture)
    assert callback["MerchantRequestID"] == answer["MerchantRequestID"]
    assert callback["CheckoutRequestID"] == answer["CheckoutRequestID"]
    assert callback["ResultCode"] == 0
    assert callback["ResultDesc"] == fixture["ResultDesc"]
    assert [item["Name"] for item in callback["CallbackMetadata"]["Item"]] == [
        item["Name"] for item in fixture["CallbackMetadata"]["Item"]
    ]
    assert {"Name": "Balance"} in callback["CallbackMetadata"]["Item"]  # no Value, as in real life
    items = _items(callback)
    assert b'"Value":1.00' in received.raw  # written 1.00 like real callbacks
    assert items["Amount"] == Decimal("1.00")
    assert items["PhoneNumber"] == int(SANDBOX_PHONE)
    assert isinstance(items["TransactionDate"], int)
    when = parse_daraja_timestamp(items["TransactionDate"])
    assert abs((when - daraja.now()).total_seconds()) < 60
    receipt = items["MpesaReceiptNumber"]
    year_letter = chr(ord("L") + when.astimezone(KENYA_TZ).year - 2017)
    assert re.fullmatch(rf"{year_letter}[A-L][1-9A-V][A-Z0-9]{{7}}", receipt)


@pytest.mark.parametrize(
    ("phone", "code", "fixture"),
    [
        ("254708371032", 1032, "stk_callback_cancelled"),
        ("254708371037", 1037, "stk_callback_timeout"),
        ("254708371019", 1019, None),
        ("254708370001", 1, "stk_callback_insufficient_funds"),
        ("254708372001", 2001, "stk_callback_wrong_pin"),
    ],
)
def test_phone_rule_picks_each_failure_without_metadata(
    daraja: RawDaraja,
    receiver: CallbackReceiver,
    phone: str,
    code: int,
    fixture: str | None,
) -> None:
    _push(daraja, phone)

    [received] = receiver.wait_for(1, STK_PATH)

    callback = _callback(received)
    assert callback["ResultCode"] == code
    assert "CallbackMetadata" not in callback
    if fixture is not None:
        expected = load_fixture(fixture)["Body"]["stkCallback"]
        assert list(callback) == list(expected)
        assert callback["ResultDesc"] == expected["ResultDesc"]


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        ("success", 0),
        ("cancelled", 1032),
        ("timeout", 1037),
        ("expired", 1019),
        ("insufficient_funds", 1),
        ("wrong_pin", 2001),
    ],
)
def test_queued_outcome_over_http_overrides_the_phone_rule(
    daraja: RawDaraja, receiver: CallbackReceiver, outcome: str, code: int
) -> None:
    assert daraja.queue(outcome=outcome).status_code == 200

    answer = _push(daraja, "254708371032")  # the phone rule alone would say cancelled

    [received] = receiver.wait_for(1, STK_PATH)
    assert _callback(received)["ResultCode"] == code
    final = daraja.final_query(answer["CheckoutRequestID"])
    assert final["ResultCode"] == str(code)


def test_queued_outcome_for_a_phone_waits_for_that_phone(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.sim.queue_outcome("wrong_pin", phone_number="254700000002")

    _push(daraja, "254700000011")
    first = receiver.wait_for(1, STK_PATH)[0]
    _push(daraja, "254700000002")
    second = receiver.wait_for(2, STK_PATH)[1]

    assert _callback(first)["ResultCode"] == 0
    assert _callback(second)["ResultCode"] == 2001


def test_query_says_being_processed_then_gives_the_final_string_code(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.sim.queue_outcome("cancelled", delay=0.5)
    answer = _push(daraja)

    pending = daraja.query(answer["CheckoutRequestID"])

    assert pending.status_code == 500
    assert pending.json() == {
        **load_fixture("stk_query_pending"),
        "requestId": answer["CheckoutRequestID"],
    }
    final = daraja.final_query(answer["CheckoutRequestID"])
    expected = load_fixture("stk_query_final_cancelled")
    assert list(final) == list(expected)
    assert final == {
        **expected,
        "MerchantRequestID": answer["MerchantRequestID"],
        "CheckoutRequestID": answer["CheckoutRequestID"],
    }
    assert _callback(receiver.wait_for(1, STK_PATH)[0])["ResultCode"] == 1032


def test_query_of_unknown_checkout_id_is_refused(daraja: RawDaraja) -> None:
    response = daraja.query("ws_CO_000")

    assert response.json()["errorMessage"] == "Bad Request - Invalid CheckoutRequestID"


def test_query_checks_the_password_too(daraja: RawDaraja) -> None:
    answer = _push(daraja)

    response = daraja.query(answer["CheckoutRequestID"], Password="d3Jvbmc=")

    assert response.json()["errorMessage"] == "Wrong credentials"


def test_callback_never_sent_but_query_knows_the_result(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.sim.queue_outcome("success", callback="never")
    answer = _push(daraja)

    final = daraja.final_query(answer["CheckoutRequestID"])

    assert final["ResultCode"] == "0"
    assert daraja.sim.deliveries() == []
    assert receiver.received() == []


def test_callback_sent_twice(daraja: RawDaraja, receiver: CallbackReceiver) -> None:
    daraja.queue(outcome="success", callback="twice")
    _push(daraja)

    first, second = receiver.wait_for(2, STK_PATH)

    assert first.raw == second.raw


def test_callback_before_the_push_response(daraja: RawDaraja, receiver: CallbackReceiver) -> None:
    daraja.queue(callback="before_response")

    answer = _push(daraja)

    # No waiting: the callback was delivered before the push answered.
    [received] = receiver.received(STK_PATH)
    assert _callback(received)["CheckoutRequestID"] == answer["CheckoutRequestID"]


def test_delayed_callback_arrives_after_the_result_is_final(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja()
    daraja.queue(outcome="success", callback_delay=60)
    answer = _push(daraja)

    final = daraja.final_query(answer["CheckoutRequestID"])

    assert final["ResultCode"] == "0"
    assert receiver.received() == []  # still on its way
    daraja.sim.reset()  # cancel the pending delivery


def test_customer_delay_from_config_keeps_the_prompt_pending(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja(callback_delay=0.3)
    answer = _push(daraja)

    assert daraja.query(answer["CheckoutRequestID"]).status_code == 500
    assert daraja.final_query(answer["CheckoutRequestID"])["ResultCode"] == "0"
    receiver.wait_for(1, STK_PATH)


def test_odd_reference_is_accepted_but_never_prompts(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    _push(daraja, AccountReference="POL-001/7")

    assert _callback(receiver.wait_for(1, STK_PATH)[0])["ResultCode"] == 1037


def test_paybill_push_naming_another_party_b_is_not_permitted(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    _push(daraja, PartyB="600000")

    assert _callback(receiver.wait_for(1, STK_PATH)[0])["ResultCode"] == 2028


# -- the C2B confirmation of an STK payment -------------------------------------------------


def test_registered_short_code_also_gets_the_c2b_confirmation(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    assert daraja.register().status_code == 200
    _push(daraja, AccountReference="POL0012345", Amount=250)

    [stk] = receiver.wait_for(1, STK_PATH)
    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)

    receipt = _items(_callback(stk))["MpesaReceiptNumber"]
    body = confirmation.body
    assert list(body) == list(load_fixture("c2b_confirmation_hashed_msisdn"))
    assert all(isinstance(value, str) for value in body.values())
    assert body["TransID"] == receipt
    assert body["TransTime"] == str(_items(_callback(stk))["TransactionDate"])
    assert body["BillRefNumber"] == "POL0012345"
    assert body["TransAmount"] == "250.00"
    assert body["TransactionType"] == "Pay Bill"
    assert body["BusinessShortCode"] == daraja.sim.short_code
    assert body["MSISDN"] == hashlib.sha256(SANDBOX_PHONE.encode()).hexdigest()
    assert body["OrgAccountBalance"] == "10250.00"


def test_confirmation_can_come_first(daraja: RawDaraja, receiver: CallbackReceiver) -> None:
    daraja.register()
    daraja.sim.queue_outcome("success", c2b_first=True)
    _push(daraja)

    receiver.wait_for(2)

    assert [r.path for r in receiver.received()] == ["/" + CONFIRMATION_PATH, "/" + STK_PATH]


def test_confirmation_without_the_stk_callback(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.register()
    daraja.sim.queue_outcome("success", callback="never")
    _push(daraja)

    receiver.wait_for(1, CONFIRMATION_PATH)

    assert receiver.received(STK_PATH) == []


def test_stk_callback_without_the_confirmation(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.register()
    daraja.sim.queue_outcome("success", c2b_confirmation=False)
    first = _push(daraja, "254700000011")
    receiver.wait_for(1, STK_PATH)
    _push(daraja, "254700000002")  # a later ordinary payment, to know the first is done

    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)

    first_receipt = daraja.sim.transaction(first["CheckoutRequestID"])
    assert first_receipt is not None
    assert confirmation.body["TransID"] != first_receipt.receipt_number


def test_failed_payment_gets_no_confirmation(daraja: RawDaraja, receiver: CallbackReceiver) -> None:
    daraja.register()
    _push(daraja, "254700001032")
    receiver.wait_for(1, STK_PATH)
    _push(daraja, "254700000002")

    receiver.wait_for(2, STK_PATH)
    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)

    assert confirmation.body["MSISDN"] == hashlib.sha256(b"254700000002").hexdigest()


@pytest.mark.parametrize(
    ("mode", "shown"), [("plain", SANDBOX_PHONE), ("masked", "2547 ***** 149")]
)
def test_msisdn_mode_changes_how_the_payer_is_shown(
    make_daraja: MakeDaraja, receiver: CallbackReceiver, mode: str, shown: str
) -> None:
    daraja = make_daraja(msisdn_mode=mode)
    daraja.register()
    _push(daraja)

    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)

    assert confirmation.body["MSISDN"] == shown
