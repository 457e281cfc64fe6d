"""STK push: validated like Daraja, answered with Daraja's bodies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mpesa_daraja_kit.clock import KENYA_TZ
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import run_simulator
from tests.conftest import load_fixture
from tests.simulator.conftest import MakeDaraja
from tests.simulator.raw import DROP, FakeClock, RawDaraja, password

# 15:15:26 in Nairobi: afternoon, so a 12-hour clock writes 03 instead of 15.
AFTERNOON = datetime(2024, 7, 10, 15, 15, 26, tzinfo=KENYA_TZ).astimezone(UTC)


@pytest.fixture(scope="module")
def refusing_daraja() -> Iterator[RawDaraja]:
    """One simulator for the many refusals (a refused push leaves no state behind)."""
    with run_simulator(config=SimulatorConfig(callback_delay=0)) as (url, sim):
        raw = RawDaraja(url, sim, "http://127.0.0.1:9/callback")
        yield raw
        raw.close()


def _error(response: Any) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == set(load_fixture("stk_push_error_invalid_amount"))
    return response.status_code, body["errorCode"], body["errorMessage"]


def test_accepted_push_answers_like_daraja(daraja: RawDaraja) -> None:
    response = daraja.stk_push()

    assert response.status_code == 200
    body = response.json()
    expected = load_fixture("stk_push_response_ok")
    assert list(body) == list(expected)
    assert body["ResponseCode"] == "0"
    assert body["CustomerMessage"] == expected["CustomerMessage"]
    assert re.fullmatch(r"\d{4,5}-\d{7,8}-1", body["MerchantRequestID"])
    # ws_CO_ + DDMMYYYYHHMMSS + milliseconds + the phone without 254
    assert re.fullmatch(r"ws_CO_\d{14}\d{3}708374149", body["CheckoutRequestID"])


def test_fixture_request_is_accepted_at_its_own_time(make_daraja: MakeDaraja) -> None:
    fixture = load_fixture("stk_push_request")
    when = datetime(2024, 7, 10, 10, 15, 26, tzinfo=KENYA_TZ).astimezone(UTC)
    daraja = make_daraja(clock=FakeClock(when))
    body = {**fixture, "CallBackURL": daraja.callback_url}

    response = daraja.post("/mpesa/stkpush/v1/processrequest", body)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Amount", 0),
        ("Amount", "0"),
        ("Amount", 1.5),
        ("Amount", "1.5"),
        ("Amount", 250001),
        ("Amount", -5),
        ("Amount", True),
        ("Amount", "ten"),
        ("Amount", DROP),
        ("PhoneNumber", "0712345678"),
        ("PhoneNumber", "+254712345678"),
        ("PhoneNumber", "712345678"),
        ("PhoneNumber", "2547123456789"),
        ("PhoneNumber", "254812345678"),
        ("PartyA", "0712345678"),
        ("PartyB", "12"),
        ("AccountReference", "POL0012345678"),  # 13 characters
        ("AccountReference", ""),
        ("AccountReference", DROP),
        ("TransactionDesc", "Premium for July"),  # 16 characters
        ("TransactionDesc", DROP),
        ("TransactionType", "CustomerPaybillOnline"),
        ("TransactionType", "BuyGoods"),
        ("CallBackURL", "http://insurer.example/callback"),
        ("CallBackURL", "ftp://127.0.0.1/callback"),
        ("CallBackURL", "not a url"),
        ("BusinessShortCode", "17437"[:3]),
        ("Timestamp", "2024071010152"),
        ("Timestamp", "20240710251526"),
        ("Timestamp", "20241310101526"),
    ],
)
def test_invalid_field_is_refused_naming_the_field(
    refusing_daraja: RawDaraja, field: str, value: Any
) -> None:
    response = refusing_daraja.stk_push(**{field: value})

    assert _error(response) == (400, "400.002.02", f"Bad Request - Invalid {field}")


@pytest.mark.parametrize("amount", [1, 250000, "100", 10.0])
def test_whole_amounts_within_limits_are_accepted(daraja: RawDaraja, amount: Any) -> None:
    assert daraja.stk_push(Amount=amount).status_code == 200


def test_account_reference_of_twelve_characters_is_accepted(daraja: RawDaraja) -> None:
    assert daraja.stk_push(AccountReference="POL001234567").status_code == 200


@pytest.mark.parametrize("url", ["https://insurer.example/cb", "http://localhost:9/cb"])
def test_https_or_local_callback_urls_are_accepted(daraja: RawDaraja, url: str) -> None:
    assert daraja.stk_push(CallBackURL=url).status_code == 200


def test_plain_http_anywhere_can_be_allowed(make_daraja: MakeDaraja) -> None:
    daraja = make_daraja(allow_plain_http=True)

    assert daraja.stk_push(CallBackURL="http://host.docker.internal/cb").status_code == 200


def test_wrong_passkey_gives_wrong_credentials(daraja: RawDaraja) -> None:
    response = daraja.stk_push(**daraja.credentials(passkey="0" * 64))

    assert _error(response) == (500, "500.001.1001", "Wrong credentials")


def test_password_of_another_timestamp_gives_wrong_credentials(daraja: RawDaraja) -> None:
    body = daraja.credentials()
    body["Password"] = password(
        daraja.sim.short_code, daraja.sim.passkey, str(int(body["Timestamp"]) - 1)
    )

    assert _error(daraja.stk_push(**body))[2] == "Wrong credentials"


def test_unknown_short_code_gives_merchant_does_not_exist(daraja: RawDaraja) -> None:
    stamp = daraja.credentials()["Timestamp"]
    response = daraja.stk_push(
        BusinessShortCode="600999",
        Password=password("600999", daraja.sim.passkey, stamp),
        PartyB="600999",
    )

    assert _error(response) == (500, "500.001.1001", "Merchant does not exist")


def test_timestamp_built_in_utc_is_refused(make_daraja: MakeDaraja) -> None:
    daraja = make_daraja(clock=FakeClock(AFTERNOON))
    utc_stamp = AFTERNOON.strftime("%Y%m%d%H%M%S")  # the classic mistake: no +3 h
    body = {
        "Timestamp": utc_stamp,
        "Password": password(daraja.sim.short_code, daraja.sim.passkey, utc_stamp),
    }

    assert _error(daraja.stk_push(**body))[2] == "Bad Request - Invalid Timestamp"


def test_timestamp_on_a_twelve_hour_clock_is_refused(make_daraja: MakeDaraja) -> None:
    daraja = make_daraja(clock=FakeClock(AFTERNOON))
    twelve_hour = AFTERNOON.astimezone(KENYA_TZ).strftime("%Y%m%d%I%M%S")
    assert twelve_hour == "20240710031526"
    body = {
        "Timestamp": twelve_hour,
        "Password": password(daraja.sim.short_code, daraja.sim.passkey, twelve_hour),
    }

    assert _error(daraja.stk_push(**body))[2] == "Bad Request - Invalid Timestamp"


def test_timestamp_within_tolerance_is_accepted(make_daraja: MakeDaraja) -> None:
    clock = FakeClock(AFTERNOON)
    daraja = make_daraja(clock=clock, timestamp_tolerance=300)
    body = daraja.credentials(when=AFTERNOON - timedelta(seconds=290))

    assert daraja.stk_push(**body).status_code == 200


def test_credentials_are_not_checked_when_strict_validation_is_off(
    make_daraja: MakeDaraja,
) -> None:
    daraja = make_daraja(strict_validation=False)

    response = daraja.stk_push(Password="not-base64!", Timestamp="20200101000000")

    assert response.status_code == 200


def test_second_prompt_to_a_busy_phone_cannot_lock_the_subscriber(
    make_daraja: MakeDaraja,
) -> None:
    daraja = make_daraja(callback_delay=60)
    assert daraja.stk_push().status_code == 200

    response = daraja.stk_push()

    assert _error(response) == (
        500,
        "500.001.1001",
        load_fixture("stk_push_error_subscriber_locked")["errorMessage"],
    )
    other_phone = daraja.stk_push(PhoneNumber="254708374150", PartyA="254708374150")
    assert other_phone.status_code == 200


def test_json_is_required(daraja: RawDaraja) -> None:
    response = daraja.http.post(
        "/mpesa/stkpush/v1/processrequest",
        content=b"BusinessShortCode=174379",
        headers={**daraja.auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert _error(response) == (400, "400.002.05", "Invalid Request Payload")


def test_unknown_fields_are_refused_only_when_asked(make_daraja: MakeDaraja) -> None:
    lenient = make_daraja()
    strict = make_daraja(reject_unknown_fields=True)

    assert lenient.stk_push(MerchantRequestID="mine").status_code == 200
    assert _error(strict.stk_push(MerchantRequestID="mine"))[2] == (
        "Bad Request - Invalid MerchantRequestID"
    )
