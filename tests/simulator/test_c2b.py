"""C2B: URL registration rules, and customer payments with validation and confirmation."""

from __future__ import annotations

import time

import pytest

from mpesa_daraja_kit.simulator import C2BStatus
from tests.conftest import load_fixture
from tests.simulator.conftest import CONFIRMATION_PATH, VALIDATION_PATH, MakeDaraja
from tests.simulator.raw import RawDaraja
from tests.simulator.receiver import CallbackReceiver


def _wait_status(daraja: RawDaraja, status: C2BStatus) -> None:
    deadline = time.monotonic() + 10
    while not daraja.sim.payments() or daraja.sim.payments()[-1].status is not status:
        assert time.monotonic() < deadline, f"payment never became {status}"
        time.sleep(0.02)


# -- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_register_answers_with_the_misspelled_key(daraja: RawDaraja, version: str) -> None:
    response = daraja.register(version)

    assert response.status_code == 200
    assert list(response.json()) == list(load_fixture("c2b_register_ok"))
    assert response.json()["ResponseCode"] == "0"


@pytest.mark.parametrize("response_type", ["completed", "Complete", "CANCELLED", ""])
def test_response_type_must_be_spelled_exactly(daraja: RawDaraja, response_type: str) -> None:
    response = daraja.register(ResponseType=response_type)

    assert response.status_code == 400
    assert response.json()["errorMessage"] == "Bad Request - Invalid ResponseType"


@pytest.mark.parametrize("word", ["mpesa", "Safaricom", "exec", "CMD", "sql", "query"])
def test_urls_with_banned_words_are_refused(
    daraja: RawDaraja, receiver: CallbackReceiver, word: str
) -> None:
    response = daraja.register(ConfirmationURL=receiver.url(f"{word}/confirmation"))

    assert response.json()["errorMessage"] == "Bad Request - Invalid ConfirmationURL"


def test_banned_words_check_can_be_switched_off(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja(banned_words_check=False)

    response = daraja.register(ValidationURL=receiver.url("api/public/mpesa/validation"))

    assert response.status_code == 200


def test_plain_http_to_another_host_is_refused(daraja: RawDaraja) -> None:
    response = daraja.register(ConfirmationURL="http://insurer.example/c2b/confirmation")

    assert response.json()["errorMessage"] == "Bad Request - Invalid ConfirmationURL"


def test_second_registration_is_refused_when_production_like(make_daraja: MakeDaraja) -> None:
    daraja = make_daraja(allow_reregister=False)
    assert daraja.register().status_code == 200

    response = daraja.register()

    assert response.json()["errorCode"] == "500.003.1001"


# -- simulate --------------------------------------------------------------------------------


def test_simulated_payment_is_confirmed_with_all_string_values(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.register()
    response = daraja.simulate(Amount=750, BillRefNumber="POL0055512")

    assert response.status_code == 200
    assert response.json()["ResponseCode"] == "0"
    assert "OriginatorCoversationID" in response.json()
    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)
    body = confirmation.body
    assert list(body) == list(load_fixture("c2b_confirmation_hashed_msisdn"))
    assert all(isinstance(value, str) for value in body.values())
    assert body["TransactionType"] == "Pay Bill"
    assert body["TransAmount"] == "750.00"
    assert body["BillRefNumber"] == "POL0055512"
    assert body["OrgAccountBalance"] == "10750.00"
    assert receiver.received(VALIDATION_PATH) == []  # validation is off by default


def test_buy_goods_payment_has_no_account_number(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.register()
    daraja.simulate(CommandID="CustomerBuyGoodsOnline", BillRefNumber=None)

    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)

    assert confirmation.body["TransactionType"] == "Buy Goods"
    assert confirmation.body["BillRefNumber"] == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Msisdn", "0712345678"),
        ("Amount", 0),
        ("Amount", "1.5"),
        ("CommandID", "PayBill"),
        ("ShortCode", "12"),
        ("BillRefNumber", ""),
    ],
)
def test_invalid_simulation_is_refused(daraja: RawDaraja, field: str, value: object) -> None:
    response = daraja.simulate(**{field: value})

    assert response.json()["errorMessage"] == f"Bad Request - Invalid {field}"


def test_validation_is_asked_first_when_enabled(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja(c2b_validation=True)
    daraja.register()
    daraja.simulate()

    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)

    [validation] = receiver.received(VALIDATION_PATH)
    assert receiver.received()[0].path == "/" + VALIDATION_PATH
    assert validation.body["OrgAccountBalance"] == ""  # empty on validation
    assert validation.body["TransID"] == confirmation.body["TransID"]
    assert list(validation.body) == list(load_fixture("c2b_validation"))


def test_rejected_validation_stops_the_payment(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja(c2b_validation=True)
    daraja.register()
    receiver.answer(VALIDATION_PATH, body={"ResultCode": "C2B00012", "ResultDesc": "Rejected"})
    daraja.simulate()

    _wait_status(daraja, C2BStatus.REJECTED)

    assert daraja.sim.payments()[-1].validation_result == "C2B00012"
    assert receiver.received(CONFIRMATION_PATH) == []


@pytest.mark.parametrize(
    ("response_type", "status", "confirmed"),
    [("Completed", C2BStatus.COMPLETED, 1), ("Cancelled", C2BStatus.CANCELLED, 0)],
)
def test_validation_timeout_follows_the_registered_response_type(
    make_daraja: MakeDaraja,
    receiver: CallbackReceiver,
    response_type: str,
    status: C2BStatus,
    confirmed: int,
) -> None:
    daraja = make_daraja(c2b_validation=True, validation_deadline=0.2)
    daraja.register(ResponseType=response_type)
    receiver.answer(VALIDATION_PATH, latency=30)  # slower than the deadline
    daraja.simulate()

    [validation] = daraja.sim.wait_for_deliveries(1, kind="c2b_validation")
    _wait_status(daraja, status)

    assert validation.status_code is None
    assert validation.error is not None
    if confirmed:
        receiver.wait_for(1, CONFIRMATION_PATH)
    assert len(receiver.received(CONFIRMATION_PATH)) == confirmed


def test_validation_error_status_counts_as_no_answer(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja(c2b_validation=True)
    daraja.register(ResponseType="Cancelled")
    receiver.answer(VALIDATION_PATH, status=500, body="oops")
    daraja.simulate()

    _wait_status(daraja, C2BStatus.CANCELLED)

    assert receiver.received(CONFIRMATION_PATH) == []


def test_c2b_confirmation_sent_twice_on_request(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.register()
    daraja.queue(api="c2b", callback="twice")
    daraja.simulate()

    first, second = receiver.wait_for(2, CONFIRMATION_PATH)

    assert first.raw == second.raw


def test_c2b_confirmation_before_the_simulate_response(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.register()
    daraja.sim.queue_outcome(api="c2b", callback="before_response")

    daraja.simulate()

    assert len(receiver.received(CONFIRMATION_PATH)) == 1


def test_payment_without_registered_urls_posts_nothing(daraja: RawDaraja) -> None:
    daraja.simulate()

    _wait_status(daraja, C2BStatus.COMPLETED)

    assert daraja.sim.deliveries() == []
