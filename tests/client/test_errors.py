"""Each error class, and the classification Daraja's code and message lead to."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pytest_httpx import HTTPXMock

from mpesa_daraja_kit.client import (
    DarajaAPIError,
    DarajaConnectionError,
    DarajaError,
    DarajaErrorKind,
    DarajaInvalidResponse,
    DarajaOperation,
    DarajaOutcomeUnknown,
    DarajaTimeout,
    DarajaTransportError,
    classify_error,
)
from mpesa_daraja_kit.errors import DarajaError as BaseDarajaError
from mpesa_daraja_kit.errors import ErrorCode
from tests.client.conftest import PUSH_URL, QUERY_URL, TOKEN_URL, Either, fixture

K = DarajaErrorKind


@pytest.mark.parametrize(
    ("status", "code", "message", "kind"),
    [
        (400, "400.002.02", "Bad Request - Invalid Amount", K.INVALID_REQUEST),
        (404, "404.001.03", "Invalid Access Token", K.AUTH),
        (400, "400.008.01", "Invalid Authentication passed", K.AUTH),
        (
            401,
            "401.003.01",
            "Error Occurred - Invalid Access Token - Api not enabled",
            K.PRODUCT_NOT_ENABLED,
        ),
        (500, "500.003.02", "Error Occurred: Spike Arrest Violation", K.RATE_LIMITED),
        (429, "", "Too Many Requests", K.RATE_LIMITED),
        # 500.001.1001 has four meanings: the message decides.
        (500, "500.001.1001", "The transaction is being processed", K.STILL_PROCESSING),
        (
            500,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process "
            "for the current subscriber",
            K.SUBSCRIBER_BUSY,
        ),
        (500, "500.001.1001", "Wrong credentials", K.AUTH),
        (500, "500.001.1001", "Merchant does not exist", K.INVALID_REQUEST),
        (500, "500.001.1001", "Something new", K.SERVER),
        (503, "", "<html>Service Unavailable</html>", K.SERVER),
        (403, "", "Forbidden", K.AUTH),
        (404, "404.001.01", "Resource not found", K.INVALID_REQUEST),
    ],
)
def test_classification_uses_code_message_and_status(
    status: int, code: str, message: str, kind: DarajaErrorKind
) -> None:
    assert classify_error(status, code, message) is kind


def test_a_bare_400_from_the_token_endpoint_is_auth() -> None:
    assert classify_error(400, "", "", DarajaOperation.TOKEN) is K.AUTH
    assert classify_error(400, "", "", DarajaOperation.STK_QUERY) is K.INVALID_REQUEST


def test_the_tree() -> None:
    for cls in (DarajaAPIError, DarajaInvalidResponse, DarajaOutcomeUnknown, DarajaTransportError):
        assert issubclass(cls, BaseDarajaError)
    assert DarajaError is BaseDarajaError
    assert issubclass(DarajaTimeout, DarajaTransportError)
    assert issubclass(DarajaConnectionError, DarajaTransportError)


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("stk_push_error_invalid_amount", 400, K.INVALID_REQUEST),
        ("stk_push_error_subscriber_locked", 500, K.SUBSCRIBER_BUSY),
    ],
)
async def test_stk_push_error_bodies_become_api_errors(
    daraja: Either,
    httpx_mock: HTTPXMock,
    add_token: Callable[..., None],
    name: str,
    status: int,
    kind: DarajaErrorKind,
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=PUSH_URL, status_code=status, json=fixture(name))
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    error = caught.value
    assert error.classification is kind
    assert error.status_code == status
    assert error.error_code == fixture(name)["errorCode"]
    assert error.error_message == fixture(name)["errorMessage"]
    assert error.request_id == fixture(name)["requestId"]
    assert error.operation is DarajaOperation.STK_PUSH
    assert error.code is ErrorCode.DARAJA_ERROR
    assert error.hint in error.message
    assert error.to_dict()["classification"] == kind.value


async def test_invalid_field_is_taken_from_the_message(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(
        method="POST", url=PUSH_URL, status_code=400, json=fixture("stk_push_error_invalid_amount")
    )
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    assert caught.value.invalid_field == "Amount"


async def test_product_not_enabled(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    body = {"requestId": "r", "errorCode": "401.003.01", "errorMessage": "Api not enabled"}
    httpx_mock.add_response(method="POST", url=QUERY_URL, status_code=401, json=body)
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_query", "ws_CO_1")
    assert caught.value.classification is K.PRODUCT_NOT_ENABLED
    assert "API product" in caught.value.message


async def test_bad_credentials_are_auth_errors_naming_the_variables(
    daraja: Either, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        method="GET", url=TOKEN_URL, status_code=400, json=fixture("oauth_bad_credentials")
    )
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("get_token")
    assert caught.value.classification is K.AUTH
    assert caught.value.operation is DarajaOperation.TOKEN
    assert "MPESA_CONSUMER_KEY" in caught.value.message
    assert "test-secret" not in str(caught.value.to_dict())


async def test_a_token_failure_during_a_push_is_a_token_error_not_outcome_unknown(
    daraja: Either, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        method="GET", url=TOKEN_URL, status_code=400, json=fixture("oauth_bad_credentials")
    )
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    assert caught.value.operation is DarajaOperation.TOKEN
    assert [r.url.path for r in httpx_mock.get_requests()] == ["/oauth/v1/generate"]


async def test_html_with_status_200_is_an_invalid_response_not_a_crash(
    daraja: Either, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, html="<html><body>Maintenance</body>")
    with pytest.raises(DarajaInvalidResponse) as caught:
        await daraja("get_token")
    assert caught.value.status_code == 200
    assert caught.value.code is ErrorCode.DARAJA_INVALID_RESPONSE
    assert "not JSON" in caught.value.message
    assert "Maintenance" in caught.value.message
    assert len(httpx_mock.get_requests()) == 1  # not retried


async def test_json_missing_documented_fields_is_an_invalid_response(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=QUERY_URL, json={"Hello": "world"})
    with pytest.raises(DarajaInvalidResponse, match="ResponseCode is missing"):
        await daraja("stk_query", "ws_CO_1")


async def test_an_empty_access_token_is_an_invalid_response(
    daraja: Either, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        method="GET", url=TOKEN_URL, json={"access_token": "", "expires_in": "3599"}
    )
    with pytest.raises(DarajaInvalidResponse, match="access_token is empty"):
        await daraja("get_token")


async def test_a_non_json_error_status_is_an_api_error(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=QUERY_URL, status_code=403, text="Forbidden")
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_query", "ws_CO_1")
    assert caught.value.classification is K.AUTH
    assert caught.value.error_code == ""
    assert caught.value.error_message == "Forbidden"


async def test_timeouts_are_their_own_type(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    for _ in range(3):
        httpx_mock.add_exception(httpx.ReadTimeout("slow"), method="POST", url=QUERY_URL)
    with pytest.raises(DarajaTimeout) as caught:
        await daraja("stk_query", "ws_CO_1")
    assert caught.value.code is ErrorCode.DARAJA_TIMEOUT
    assert caught.value.request_sent
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_connection_errors_say_the_request_was_not_sent(
    daraja: Either, httpx_mock: HTTPXMock
) -> None:
    for _ in range(3):
        httpx_mock.add_exception(httpx.ConnectError("refused"), method="GET", url=TOKEN_URL)
    with pytest.raises(DarajaConnectionError) as caught:
        await daraja("get_token")
    assert caught.value.code is ErrorCode.DARAJA_CONNECTION
    assert not caught.value.request_sent
    assert "sandbox.safaricom.co.ke" in caught.value.message


async def test_outcome_unknown_keeps_the_request_and_the_cause(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), method="POST", url=PUSH_URL)
    with pytest.raises(DarajaOutcomeUnknown) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    error = caught.value
    assert error.code is ErrorCode.DARAJA_OUTCOME_UNKNOWN
    assert isinstance(error.__cause__, DarajaTimeout)
    assert error.request.timestamp == "20240710101526"
    assert error.reason == "daraja_timeout"
    assert "NOT sent again" in error.message
    assert "Password" not in str(error.to_dict())
