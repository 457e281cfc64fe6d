"""Every Daraja call, through both twins: what is sent and what comes back."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from pytest_httpx import HTTPXMock

from mpesa_daraja_kit.client import (
    AsyncDarajaClient,
    DarajaAPIError,
    DarajaClient,
    DarajaErrorKind,
    RetryPolicy,
)
from mpesa_daraja_kit.config import SANDBOX_PASSKEY
from mpesa_daraja_kit.errors import ConfigError, ValidationError
from tests.client.conftest import (
    PUSH_URL,
    QUERY_URL,
    REGISTER_V1_URL,
    REGISTER_V2_URL,
    SIMULATE_URL,
    TOKEN_URL,
    Either,
    FakeClock,
    api_requests,
    fixture,
    make_settings,
)


async def test_token_uses_basic_auth_and_parses_text_expiry(
    daraja: Either, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, json=fixture("oauth_ok"))
    token = await daraja("get_token")
    assert token == "c9SQxWWhmdVRlyh0zh8gZDTkubVF"
    request = httpx_mock.get_requests()[0]
    expected = base64.b64encode(b"test-key:test-secret").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


async def test_stk_push_sends_exactly_the_documented_body(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"))
    result = await daraja("stk_push", "0708 374 149", 1, "POL0012345", "Premium")
    sent = api_requests(httpx_mock)[0]
    # With the clock at the fixture's time, the body is the fixture, byte for value.
    assert json.loads(sent.content) == fixture("stk_push_request")
    assert sent.headers["Authorization"] == "Bearer tok-1"
    assert result.checkout_request_id == "ws_CO_1007202409152617172396192"
    assert result.merchant_request_id == "2654-4b64-97ff-b827b542881d3130"
    assert result.timestamp == "20240710101526"
    assert result.request.amount == 1
    assert result.requested_at.isoformat() == "2024-07-10T07:15:26+00:00"


async def test_stk_push_password_decodes_to_code_passkey_and_the_sent_timestamp(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"))
    await daraja("stk_push", "254708374149", Decimal("10"), "POL1")
    body = json.loads(api_requests(httpx_mock)[0].content)
    decoded = base64.b64decode(body["Password"]).decode()
    assert decoded == "174379" + SANDBOX_PASSKEY + body["Timestamp"]


async def test_stk_push_till_uses_buy_goods_and_the_till_as_party_b(
    httpx_mock: HTTPXMock, add_token: Callable[..., None], clock: FakeClock
) -> None:
    settings = make_settings(transaction_kind="till", till_number="5123456")
    add_token()
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"))
    async with AsyncDarajaClient(settings, clock=clock) as client:
        await client.stk_push("0708374149", 5, "POL1")
    body = json.loads(api_requests(httpx_mock)[0].content)
    assert body["TransactionType"] == "CustomerBuyGoodsOnline"
    assert (body["BusinessShortCode"], body["PartyB"]) == ("174379", "5123456")


async def test_stk_push_callback_url_can_be_given_per_call(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"))
    await daraja("stk_push", "0708374149", 5, "POL1", callback_url="https://other.example/cb")
    assert json.loads(api_requests(httpx_mock)[0].content)["CallBackURL"] == (
        "https://other.example/cb"
    )


async def test_stk_push_with_a_non_zero_response_code_is_a_refusal(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    answer = fixture("stk_push_response_ok") | {"ResponseCode": "1", "ResponseDescription": "No"}
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=answer)
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_push", "0708374149", 5, "POL1")
    assert caught.value.error_code == "1"


@pytest.mark.parametrize("name", ["stk_query_final_success", "stk_query_final_cancelled"])
async def test_stk_query_final_answers(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], name: str
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=QUERY_URL, json=fixture(name))
    answer = await daraja("stk_query", fixture(name)["CheckoutRequestID"])
    assert answer.result_code == fixture(name)["ResultCode"]
    body = json.loads(api_requests(httpx_mock)[0].content)
    assert set(body) == {"BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"}
    assert body["CheckoutRequestID"] == fixture(name)["CheckoutRequestID"]
    decoded = base64.b64decode(body["Password"]).decode()
    assert decoded == "174379" + SANDBOX_PASSKEY + body["Timestamp"]


async def test_stk_query_pending_is_still_processing_and_not_retried(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(
        method="POST", url=QUERY_URL, status_code=500, json=fixture("stk_query_pending")
    )
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_query", "ws_CO_1007202409152617172396192")
    assert caught.value.classification is DarajaErrorKind.STILL_PROCESSING
    assert len(api_requests(httpx_mock)) == 1


async def test_stk_query_needs_a_checkout_request_id(daraja: Either) -> None:
    with pytest.raises(ValidationError, match="checkout_request_id"):
        await daraja("stk_query", "  ")


@pytest.mark.parametrize(("version", "url"), [("v1", REGISTER_V1_URL), ("v2", REGISTER_V2_URL)])
async def test_register_c2b_urls_uses_the_chosen_version(
    daraja: Either,
    httpx_mock: HTTPXMock,
    add_token: Callable[..., None],
    version: str,
    url: str,
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=url, json=fixture("c2b_register_ok"))
    answer = await daraja("register_c2b_urls", version=version)
    assert answer.originator_conversation_id == "7619-37765134-1"
    assert json.loads(api_requests(httpx_mock)[0].content) == {
        "ShortCode": "174379",
        "ResponseType": "Completed",
        "ConfirmationURL": "https://insurer.example/hooks/confirmation",
        "ValidationURL": "https://insurer.example/hooks/validation",
    }


async def test_register_c2b_urls_takes_explicit_values(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=REGISTER_V2_URL, json=fixture("c2b_register_ok"))
    await daraja(
        "register_c2b_urls",
        confirmation_url="https://pay.example/in/c",
        validation_url="https://pay.example/in/v",
        response_type="cancelled",
    )
    body = json.loads(api_requests(httpx_mock)[0].content)
    assert body["ResponseType"] == "Cancelled"
    assert body["ConfirmationURL"] == "https://pay.example/in/c"


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("https://pay.example/api/public/mpesa/confirmation", "mpesa"),
        ("https://pay.example/SAFARICOM/c", "safaricom"),
        ("https://pay.example/c?Query=1", "query"),
        ("https://pay.example/execute", "exec"),
    ],
)
async def test_register_refuses_banned_words_before_calling(
    daraja: Either, httpx_mock: HTTPXMock, url: str, word: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await daraja("register_c2b_urls", confirmation_url=url)
    assert repr(word) in caught.value.message
    assert caught.value.details["words"] == [word]
    assert httpx_mock.get_requests() == []


async def test_register_refuses_an_unknown_version(daraja: Either) -> None:
    with pytest.raises(ValidationError, match="'v1' or 'v2'"):
        await daraja("register_c2b_urls", version="v3")


async def test_register_without_urls_names_the_setting(clock: FakeClock) -> None:
    settings = make_settings(callback_base_url="")
    async with AsyncDarajaClient(settings, clock=clock) as client:
        with pytest.raises(ConfigError, match="MPESA_CALLBACK_BASE_URL"):
            await client.register_c2b_urls()


async def test_c2b_simulate_sends_the_documented_body(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    answer = {"OriginatorCoversationID": "x-1", "ResponseCode": "0", "ResponseDescription": "ok"}
    httpx_mock.add_response(method="POST", url=SIMULATE_URL, json=answer)
    result = await daraja("c2b_simulate", "100", "0708374149", "POL0012345")
    assert result.originator_conversation_id == "x-1"
    assert json.loads(api_requests(httpx_mock)[0].content) == {
        "ShortCode": "174379",
        "CommandID": "CustomerPayBillOnline",
        "Amount": 100,
        "Msisdn": "254708374149",
        "BillRefNumber": "POL0012345",
    }


async def test_c2b_simulate_is_refused_in_production(httpx_mock: HTTPXMock) -> None:
    settings = make_settings(environment="production")
    with DarajaClient(settings) as client, pytest.raises(ConfigError, match="production"):
        client.c2b_simulate(1, "0708374149", "POL1")
    assert httpx_mock.get_requests() == []


async def test_base_url_override_is_used(httpx_mock: HTTPXMock, settings: object) -> None:
    httpx_mock.add_response(
        method="GET",
        url="http://127.0.0.1:8089/oauth/v1/generate?grant_type=client_credentials",
        json=fixture("oauth_ok"),
    )
    async with AsyncDarajaClient(make_settings(), base_url="http://127.0.0.1:8089/") as client:
        assert client.base_url == "http://127.0.0.1:8089"
        assert await client.get_token() == "c9SQxWWhmdVRlyh0zh8gZDTkubVF"


async def test_settings_base_url_overrides_the_environment_host(httpx_mock: HTTPXMock) -> None:
    settings = make_settings(base_url="http://127.0.0.1:9/")
    with DarajaClient(settings, retry=RetryPolicy.never()) as client:
        assert client.base_url == "http://127.0.0.1:9"


async def test_transport_injection_is_the_test_seam() -> None:
    import httpx

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=fixture("oauth_ok"))

    async with AsyncDarajaClient(make_settings(), transport=httpx.MockTransport(handler)) as ac:
        await ac.get_token()
    with DarajaClient(make_settings(), transport=httpx.MockTransport(handler)) as sc:
        sc.get_token()
    assert seen == ["/oauth/v1/generate", "/oauth/v1/generate"]
