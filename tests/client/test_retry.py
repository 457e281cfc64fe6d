"""What is tried again (counted in requests made) and how long the client waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from mpesa_daraja_kit.client import (
    AsyncDarajaClient,
    DarajaAPIError,
    DarajaClient,
    DarajaConnectionError,
    DarajaErrorKind,
    DarajaInvalidResponse,
    DarajaOutcomeUnknown,
    DarajaTimeout,
    RetryPolicy,
)
from tests.client.conftest import (
    PUSH_URL,
    QUERY_URL,
    REGISTER_V2_URL,
    SIMULATE_URL,
    TOKEN_URL,
    Either,
    FakeClock,
    Recorder,
    api_requests,
    fixture,
    make_settings,
    token_requests,
)

SPIKE = {"requestId": "r", "errorCode": "500.003.02", "errorMessage": "Spike Arrest Violation"}
SERVER = {"requestId": "r", "errorCode": "500.001.1000", "errorMessage": "Internal Server Error"}

Failure = Callable[[HTTPXMock, str, str], None]


def _status(status: int, **body: Any) -> Failure:
    def add(mock: HTTPXMock, method: str, url: str) -> None:
        mock.add_response(method=method, url=url, status_code=status, **body)

    return add


def _raise(exc: Exception) -> Failure:
    def add(mock: HTTPXMock, method: str, url: str) -> None:
        mock.add_exception(exc, method=method, url=url)

    return add


TRANSIENT = {
    "503 html": _status(503, html="<html>busy</html>"),
    "500 error body": _status(500, json=SERVER),
    "spike arrest": _status(500, json=SPIKE),
    "connect error": _raise(httpx.ConnectError("refused")),
    "connect timeout": _raise(httpx.ConnectTimeout("slow")),
    "read timeout": _raise(httpx.ReadTimeout("slow")),
    "dropped connection": _raise(httpx.RemoteProtocolError("closed")),
}


# -- repeatable calls: token and query ------------------------------------------------------


@pytest.mark.parametrize("failure", TRANSIENT.values(), ids=TRANSIENT.keys())
async def test_query_is_retried_after_a_transient_failure(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], failure: Failure
) -> None:
    add_token()
    failure(httpx_mock, "POST", QUERY_URL)
    httpx_mock.add_response(method="POST", url=QUERY_URL, json=fixture("stk_query_final_success"))
    answer = await daraja("stk_query", "ws_CO_1007202409152617172396192")
    assert answer.result_code == "0"
    assert len(api_requests(httpx_mock)) == 2


@pytest.mark.parametrize("failure", TRANSIENT.values(), ids=TRANSIENT.keys())
async def test_token_is_retried_after_a_transient_failure(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], failure: Failure
) -> None:
    failure(httpx_mock, "GET", TOKEN_URL)
    add_token()
    assert await daraja("get_token") == "tok-1"
    assert len(token_requests(httpx_mock)) == 2


async def test_query_gives_up_after_the_configured_attempts(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    for _ in range(3):
        httpx_mock.add_response(method="POST", url=QUERY_URL, status_code=500, json=SERVER)
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_query", "ws_CO_1")
    assert caught.value.classification is DarajaErrorKind.SERVER
    assert len(api_requests(httpx_mock)) == 3


@pytest.mark.parametrize(
    "body",
    [
        fixture("stk_push_error_invalid_amount"),
        {"requestId": "r", "errorCode": "401.003.01", "errorMessage": "not enabled"},
        fixture("stk_query_pending"),
    ],
    ids=["invalid request", "product not enabled", "still processing"],
)
async def test_definitive_answers_are_not_retried(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], body: dict[str, str]
) -> None:
    add_token()
    status = int(body["errorCode"].split(".")[0])
    httpx_mock.add_response(method="POST", url=QUERY_URL, status_code=status, json=body)
    with pytest.raises(DarajaAPIError):
        await daraja("stk_query", "ws_CO_1")
    assert len(api_requests(httpx_mock)) == 1


# -- STK push: never sent twice once it may have arrived ---------------------------------------


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("busy")],
    ids=["connect error", "connect timeout", "pool timeout"],
)
async def test_push_is_retried_only_when_it_was_not_sent(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], exc: Exception
) -> None:
    add_token()
    httpx_mock.add_exception(exc, method="POST", url=PUSH_URL)
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"))
    result = await daraja("stk_push", "0708374149", 1, "POL1")
    assert result.response.accepted
    assert len(api_requests(httpx_mock)) == 2


MAYBE_ARRIVED = {
    "read timeout": _raise(httpx.ReadTimeout("slow")),
    "write timeout": _raise(httpx.WriteTimeout("slow")),
    "dropped connection": _raise(httpx.RemoteProtocolError("closed")),
    "read error": _raise(httpx.ReadError("reset")),
    "500 error body": _status(500, json=SERVER),
    "502 html": _status(502, html="<html>bad gateway</html>"),
    "200 html": _status(200, html="<html>hello</html>"),
}


@pytest.mark.parametrize("failure", MAYBE_ARRIVED.values(), ids=MAYBE_ARRIVED.keys())
async def test_push_that_may_have_arrived_is_outcome_unknown_and_sent_once(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], failure: Failure
) -> None:
    add_token()
    failure(httpx_mock, "POST", PUSH_URL)
    with pytest.raises(DarajaOutcomeUnknown) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    assert len(api_requests(httpx_mock)) == 1
    assert isinstance(
        caught.value.__cause__,
        DarajaTimeout | DarajaConnectionError | DarajaAPIError | DarajaInvalidResponse,
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (SPIKE, DarajaErrorKind.RATE_LIMITED),
        (fixture("stk_push_error_subscriber_locked"), DarajaErrorKind.SUBSCRIBER_BUSY),
    ],
)
async def test_push_refusals_are_raised_as_they_are_and_not_resent(
    daraja: Either,
    httpx_mock: HTTPXMock,
    add_token: Callable[..., None],
    body: dict[str, str],
    kind: DarajaErrorKind,
) -> None:
    add_token()
    httpx_mock.add_response(method="POST", url=PUSH_URL, status_code=500, json=body)
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    assert caught.value.classification is kind
    assert len(api_requests(httpx_mock)) == 1


async def test_push_that_never_connects_gives_up_with_a_connection_error(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    for _ in range(3):
        httpx_mock.add_exception(httpx.ConnectError("refused"), method="POST", url=PUSH_URL)
    with pytest.raises(DarajaConnectionError) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    assert not caught.value.request_sent
    assert len(api_requests(httpx_mock)) == 3


async def test_token_retries_inside_a_push_do_not_resend_the_push(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, status_code=503, html="busy")
    httpx_mock.add_response(method="GET", url=TOKEN_URL, status_code=500, json=SPIKE)
    add_token()
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"))
    await daraja("stk_push", "0708374149", 1, "POL1")
    assert (len(token_requests(httpx_mock)), len(api_requests(httpx_mock))) == (3, 1)


async def test_c2b_simulate_is_never_resent_after_a_timeout(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), method="POST", url=SIMULATE_URL)
    with pytest.raises(DarajaOutcomeUnknown):
        await daraja("c2b_simulate", 10, "0708374149", "POL1")
    assert len(api_requests(httpx_mock)) == 1


async def test_registration_is_not_resent_after_a_timeout(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), method="POST", url=REGISTER_V2_URL)
    with pytest.raises(DarajaTimeout):
        await daraja("register_c2b_urls")
    assert len(api_requests(httpx_mock)) == 1


# -- backoff ------------------------------------------------------------------------------


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=4.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_takes_up_to_its_fraction_off() -> None:
    low = RetryPolicy(base_delay=2.0, jitter=0.5, random=lambda: 1.0)
    high = RetryPolicy(base_delay=2.0, jitter=0.5, random=lambda: 0.0)
    assert (low.delay(1), high.delay(1)) == (1.0, 2.0)


def test_no_wait_and_never() -> None:
    assert RetryPolicy.no_wait().delay(5) == 0.0
    assert RetryPolicy.never().attempts == 1


async def test_async_client_waits_the_policy_delays_between_tries(
    httpx_mock: HTTPXMock, add_token: Callable[..., None], recorder: Recorder, clock: FakeClock
) -> None:
    add_token()
    for _ in range(3):
        httpx_mock.add_response(method="POST", url=QUERY_URL, status_code=500, json=SPIKE)
    policy = recorder.policy(attempts=3, base_delay=1.0, jitter=0.0)
    async with AsyncDarajaClient(make_settings(), clock=clock, retry=policy) as client:
        with pytest.raises(DarajaAPIError):
            await client.stk_query("ws_CO_1")
    assert recorder.delays == [1.0, 2.0]


def test_sync_client_waits_the_policy_delays_between_tries(
    httpx_mock: HTTPXMock, add_token: Callable[..., None], recorder: Recorder, clock: FakeClock
) -> None:
    for _ in range(4):
        httpx_mock.add_exception(httpx.ConnectError("refused"), method="GET", url=TOKEN_URL)
    policy = recorder.policy(attempts=4, base_delay=0.25, max_delay=0.5, jitter=0.0)
    with (
        DarajaClient(make_settings(), clock=clock, retry=policy) as client,
        pytest.raises(DarajaConnectionError),
    ):
        client.get_token()
    assert recorder.delays == [0.25, 0.5, 0.5]


def test_never_policy_makes_one_try(
    httpx_mock: HTTPXMock, recorder: Recorder, clock: FakeClock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), method="GET", url=TOKEN_URL)
    with (
        DarajaClient(make_settings(), clock=clock, retry=RetryPolicy.never()) as client,
        pytest.raises(DarajaConnectionError),
    ):
        client.get_token()
    assert len(httpx_mock.get_requests()) == 1
