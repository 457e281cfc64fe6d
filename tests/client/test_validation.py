"""An STK push is checked before anything is sent, with errors that say what to change."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from mpesa_daraja_kit.client import DarajaClient
from mpesa_daraja_kit.errors import (
    ConfigError,
    ErrorCode,
    InvalidAccountReference,
    InvalidAmount,
    InvalidPhoneNumber,
    MpesaKitError,
    ValidationError,
)
from tests.client.conftest import make_settings

GOOD: dict[str, Any] = {
    "phone_number": "0708374149",
    "amount": 10,
    "account_reference": "POL0012345",
    "transaction_desc": "Premium",
}


@pytest.mark.parametrize(
    ("change", "error", "says"),
    [
        ({"phone_number": "0208374149"}, InvalidPhoneNumber, "07XXXXXXXX"),
        ({"phone_number": "12345"}, InvalidPhoneNumber, "Kenyan mobile"),
        ({"amount": "10.50"}, InvalidAmount, "whole shillings"),
        ({"amount": 0}, InvalidAmount, "MPESA_AMOUNT_MIN"),
        ({"amount": 250001}, InvalidAmount, "MPESA_AMOUNT_MAX"),
        ({"amount": "ten"}, InvalidAmount, "not a number"),
        ({"account_reference": "POL-0012345"}, InvalidAccountReference, "letters and digits"),
        ({"account_reference": "POL00123456789"}, InvalidAccountReference, "at most 12"),
        ({"account_reference": ""}, InvalidAccountReference, "empty"),
        ({"transaction_desc": "Premium payment"}, ValidationError, "at most 13"),
        ({"transaction_desc": "  "}, ValidationError, "empty"),
    ],
)
def test_bad_input_is_refused_before_sending(
    httpx_mock: HTTPXMock, change: dict[str, Any], error: type[MpesaKitError], says: str
) -> None:
    with DarajaClient(make_settings()) as client, pytest.raises(error) as caught:
        client.stk_push(**(GOOD | change))
    assert says in caught.value.message
    assert httpx_mock.get_requests() == []  # not even a token was fetched


def test_description_error_has_its_own_code(httpx_mock: HTTPXMock) -> None:
    with DarajaClient(make_settings()) as client, pytest.raises(ValidationError) as caught:
        client.stk_push(**(GOOD | {"transaction_desc": "x" * 14}))
    assert caught.value.code is ErrorCode.INVALID_TRANSACTION_DESC
    assert "'xxxxxxxxxxxxx'" in caught.value.message  # suggests the shortened text


def test_amount_limits_come_from_the_settings(httpx_mock: HTTPXMock) -> None:
    settings = make_settings(amount_min=10, amount_max=70000)
    with DarajaClient(settings) as client:
        with pytest.raises(InvalidAmount, match="70000"):
            client.stk_push(**(GOOD | {"amount": 70001}))
        with pytest.raises(InvalidAmount, match="10 KES"):
            client.stk_push(**(GOOD | {"amount": 9}))


def test_shorter_configured_reference_limit_applies(httpx_mock: HTTPXMock) -> None:
    settings = make_settings(account_reference_max_length=6)
    with DarajaClient(settings) as client, pytest.raises(InvalidAccountReference, match="6"):
        client.stk_push(**(GOOD | {"account_reference": "POL0012"}))


def test_missing_callback_url_names_the_settings(httpx_mock: HTTPXMock) -> None:
    settings = make_settings(stk_push_callback_url="", callback_base_url="")
    with DarajaClient(settings) as client, pytest.raises(ConfigError, match="callback_url="):
        client.stk_push(**GOOD)


def test_production_needs_an_https_callback(httpx_mock: HTTPXMock) -> None:
    settings = make_settings(environment="production")
    with DarajaClient(settings) as client, pytest.raises(ValidationError, match="https"):
        client.stk_push(**GOOD, callback_url="http://insurer.example/cb")


def test_relative_callback_is_refused(httpx_mock: HTTPXMock) -> None:
    with DarajaClient(make_settings()) as client, pytest.raises(ValidationError, match="absolute"):
        client.stk_push(**GOOD, callback_url="/cb")
