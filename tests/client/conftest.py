"""Small builders for client tests: settings, a fixed clock, Daraja's answers as fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from mpesa_daraja_kit.client import AsyncDarajaClient, DarajaClient, RetryPolicy
from mpesa_daraja_kit.config import SANDBOX_PASSKEY, Settings

DARAJA = Path(__file__).parents[1] / "fixtures" / "daraja"
BASE = "https://sandbox.safaricom.co.ke"
TOKEN_URL = f"{BASE}/oauth/v1/generate?grant_type=client_credentials"
PUSH_URL = f"{BASE}/mpesa/stkpush/v1/processrequest"
QUERY_URL = f"{BASE}/mpesa/stkpushquery/v1/query"
REGISTER_V1_URL = f"{BASE}/mpesa/c2b/v1/registerurl"
REGISTER_V2_URL = f"{BASE}/mpesa/c2b/v2/registerurl"
SIMULATE_URL = f"{BASE}/mpesa/c2b/v1/simulate"
# The fixture request's Timestamp 20240710101526 (Kenyan time) as UTC.
FIXTURE_NOW = datetime(2024, 7, 10, 7, 15, 26, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    """Return tests/fixtures/daraja/<name>.json as a dict."""
    data: dict[str, Any] = json.loads((DARAJA / f"{name}.json").read_text())
    return data


class FakeClock:
    """A settable aware-UTC clock."""

    def __init__(self, now: datetime = FIXTURE_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_settings(**overrides: Any) -> Settings:
    """Return sandbox settings with the public sandbox short code and passkey."""
    values: dict[str, Any] = {
        "environment": "sandbox",
        "consumer_key": "test-key",
        "consumer_secret": "test-secret",
        "business_short_code": "174379",
        "passkey": SANDBOX_PASSKEY,
        "stk_push_callback_url": "https://insurer.example/api/public/mpesa/stk-push/callback",
        "callback_base_url": "https://insurer.example/hooks",
    }
    values.update(overrides)
    return Settings(**values)


class Recorder:
    """Records the backoff delays the client asked to wait (and never waits)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def sync_sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def policy(self, attempts: int = 3, **kwargs: Any) -> RetryPolicy:
        return RetryPolicy(
            attempts=attempts, sleep=self.sleep, sync_sleep=self.sync_sleep, **kwargs
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def add_token(httpx_mock: HTTPXMock) -> Callable[..., None]:
    """Register one OAuth answer (``fixture oauth_ok`` unless told otherwise)."""

    def add(token: str = "tok-1", expires_in: str | int = "3599", **kwargs: Any) -> None:
        httpx_mock.add_response(
            method="GET",
            url=TOKEN_URL,
            json={"access_token": token, "expires_in": expires_in},
            **kwargs,
        )

    return add


def token_requests(httpx_mock: HTTPXMock) -> list[Any]:
    return [r for r in httpx_mock.get_requests() if r.url.path == "/oauth/v1/generate"]


def api_requests(httpx_mock: HTTPXMock) -> list[Any]:
    return [r for r in httpx_mock.get_requests() if r.url.path != "/oauth/v1/generate"]


@pytest.fixture
async def aclient(settings: Settings, clock: FakeClock) -> Any:
    async with AsyncDarajaClient(settings, clock=clock, retry=RetryPolicy.no_wait()) as client:
        yield client


@pytest.fixture
def sclient(settings: Settings, clock: FakeClock) -> Any:
    with DarajaClient(settings, clock=clock, retry=RetryPolicy.no_wait()) as client:
        yield client


class Either:
    """Calls the async or the sync client through one awaitable interface."""

    def __init__(self, client: AsyncDarajaClient | DarajaClient) -> None:
        self.client = client
        self.is_async = isinstance(client, AsyncDarajaClient)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if self.is_async:
            return await result
        return result


@pytest.fixture(params=["async", "sync"])
async def daraja(request: pytest.FixtureRequest, settings: Settings, clock: FakeClock) -> Any:
    """Both twins in turn, with retries that never wait."""
    if request.param == "async":
        async with AsyncDarajaClient(settings, clock=clock, retry=RetryPolicy.no_wait()) as ac:
            yield Either(ac)
    else:
        with DarajaClient(settings, clock=clock, retry=RetryPolicy.no_wait()) as sc:
            yield Either(sc)
