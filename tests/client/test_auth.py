"""OAuth: cached, refreshed early, shared, single-flight, one retry on an invalid token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest
from pytest_httpx import HTTPXMock

from mpesa_daraja_kit.client import (
    AsyncDarajaAuth,
    AsyncDarajaClient,
    CachedToken,
    DarajaAPIError,
    DarajaAuth,
    DarajaClient,
    DarajaErrorKind,
    InMemoryTokenCache,
    RetryPolicy,
    SyncInMemoryTokenCache,
    SyncTokenCache,
    TokenCache,
)
from mpesa_daraja_kit.errors import InvalidTimestamp
from mpesa_daraja_kit.wire import OAuthToken
from tests.client.conftest import (
    FIXTURE_NOW,
    PUSH_URL,
    Either,
    FakeClock,
    api_requests,
    fixture,
    make_settings,
    token_requests,
)

INVALID_TOKEN = fixture("stk_push_error_invalid_token")


async def test_the_token_is_fetched_once_and_reused(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token()
    httpx_mock.add_response(
        method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"), is_reusable=True
    )
    for _ in range(3):
        await daraja("stk_push", "0708374149", 1, "POL1")
    assert len(token_requests(httpx_mock)) == 1
    assert {r.headers["Authorization"] for r in api_requests(httpx_mock)} == {"Bearer tok-1"}


async def test_the_token_is_refreshed_before_it_expires(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], clock: FakeClock
) -> None:
    add_token("tok-1", "3599")
    add_token("tok-2", "3599")
    assert await daraja("get_token") == "tok-1"
    clock.advance(3599 - 300 - 1)  # one second before the refresh margin starts
    assert await daraja("get_token") == "tok-1"
    clock.advance(1)  # 300 s (the margin) before expiry: renew now, not when it fails
    assert await daraja("get_token") == "tok-2"
    assert len(token_requests(httpx_mock)) == 2


async def test_a_short_lived_token_is_kept_for_half_its_life(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None], clock: FakeClock
) -> None:
    add_token("tok-1", 60)
    add_token("tok-2", 60)
    assert await daraja("get_token") == "tok-1"
    clock.advance(29)
    assert await daraja("get_token") == "tok-1"
    clock.advance(1)
    assert await daraja("get_token") == "tok-2"


async def test_an_invalid_token_answer_refreshes_once_and_resends_once(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    sent_with: list[str] = []  # read at send time: the flow re-sends the same request object

    def answer(status: int, body: dict[str, str]) -> Callable[[httpx.Request], httpx.Response]:
        def reply(request: httpx.Request) -> httpx.Response:
            sent_with.append(request.headers["Authorization"])
            return httpx.Response(status, json=body)

        return reply

    add_token("tok-1")
    httpx_mock.add_callback(answer(404, INVALID_TOKEN), method="POST", url=PUSH_URL)
    add_token("tok-2")
    httpx_mock.add_callback(
        answer(200, fixture("stk_push_response_ok")), method="POST", url=PUSH_URL
    )
    result = await daraja("stk_push", "0708374149", 1, "POL1")
    assert result.response.accepted
    assert sent_with == ["Bearer tok-1", "Bearer tok-2"]
    assert len(token_requests(httpx_mock)) == 2
    assert await daraja("get_token") == "tok-2"  # the new token is the cached one


async def test_a_second_invalid_token_answer_is_an_auth_error(
    daraja: Either, httpx_mock: HTTPXMock, add_token: Callable[..., None]
) -> None:
    add_token("tok-1")
    add_token("tok-2")
    for _ in range(2):
        httpx_mock.add_response(method="POST", url=PUSH_URL, status_code=404, json=INVALID_TOKEN)
    with pytest.raises(DarajaAPIError) as caught:
        await daraja("stk_push", "0708374149", 1, "POL1")
    assert caught.value.classification is DarajaErrorKind.AUTH
    assert caught.value.error_code == "404.001.03"
    assert (len(token_requests(httpx_mock)), len(api_requests(httpx_mock))) == (2, 2)


class CountingCache:
    """A stand-in for a shared (database) cache: a dict plus call counts."""

    def __init__(self) -> None:
        self.rows: dict[str, CachedToken] = {}
        self.sets = 0

    async def get(self, key: str) -> CachedToken | None:
        return self.rows.get(key)

    async def set(self, key: str, token: CachedToken) -> None:
        self.sets += 1
        self.rows[key] = token

    async def invalidate(self, key: str, access_token: str) -> None:
        if key in self.rows and self.rows[key].access_token == access_token:
            del self.rows[key]


async def test_workers_sharing_a_cache_share_one_token(
    httpx_mock: HTTPXMock, add_token: Callable[..., None], clock: FakeClock
) -> None:
    add_token("shared")
    cache = CountingCache()
    assert isinstance(cache, TokenCache)
    settings = make_settings()
    async with (
        AsyncDarajaClient(settings, token_cache=cache, clock=clock) as worker_a,
        AsyncDarajaClient(settings, token_cache=cache, clock=clock) as worker_b,
    ):
        assert await worker_a.get_token() == "shared"
        assert await worker_b.get_token() == "shared"
    assert len(token_requests(httpx_mock)) == 1
    (key,) = cache.rows
    assert "test-key" not in key
    assert "test-secret" not in key
    assert (cache.rows[key].expires_at - clock.now).total_seconds() == 3599


async def test_a_token_refreshed_by_another_worker_is_used_without_fetching(
    clock: FakeClock,
) -> None:
    fetched: list[str] = []

    async def fetch() -> OAuthToken:
        fetched.append("x")
        return OAuthToken("fetched", 3599)

    cache = CountingCache()
    auth = AsyncDarajaAuth(fetch, cache=cache, key="k", clock=clock)
    await cache.set("k", CachedToken("peer-token", clock.now.replace(year=2030)))
    # Our request failed with the old token; a peer has stored a newer one since.
    assert await auth.refresh(stale="old-token") == "peer-token"
    assert fetched == []
    # When the cache still holds the refused token, it is dropped and a new one fetched.
    assert await auth.refresh(stale="peer-token") == "fetched"
    assert fetched == ["x"]


async def test_a_failed_fetch_is_shared_by_its_waiters_not_repeated(clock: FakeClock) -> None:
    calls = 0
    release = asyncio.Event()

    async def fetch() -> OAuthToken:
        nonlocal calls
        calls += 1
        await release.wait()
        raise DarajaAPIError(
            operation="token",  # type: ignore[arg-type]
            status_code=400,
            error_code="400.008.01",
            error_message="Invalid Authentication passed",
        )

    auth = AsyncDarajaAuth(fetch, clock=clock)
    waiters = [asyncio.create_task(auth.get_token()) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, DarajaAPIError) for r in results)


def test_in_memory_invalidate_leaves_a_newer_token() -> None:
    cache = SyncInMemoryTokenCache()
    assert isinstance(cache, SyncTokenCache)
    cache.set("k", CachedToken("new", FIXTURE_NOW))
    cache.invalidate("k", "old")
    assert cache.get("k") == CachedToken("new", FIXTURE_NOW)
    cache.invalidate("k", "new")
    assert cache.get("k") is None


async def test_async_in_memory_cache() -> None:
    cache = InMemoryTokenCache()
    assert isinstance(cache, TokenCache)
    await cache.set("k", CachedToken("t", FIXTURE_NOW))
    assert (await cache.get("k")) == CachedToken("t", FIXTURE_NOW)
    await cache.invalidate("k", "t")
    assert await cache.get("k") is None


def test_cached_token_needs_an_aware_expiry() -> None:
    with pytest.raises(InvalidTimestamp):
        CachedToken("t", datetime(2030, 1, 1))
    assert "secret-token" not in repr(CachedToken("secret-token", FIXTURE_NOW))


def test_auth_is_a_plain_httpx_auth_for_other_clients(clock: FakeClock) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={})

    auth = DarajaAuth(lambda: OAuthToken("standalone", 3599), clock=clock)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        client.get("https://sandbox.safaricom.co.ke/anything")
    assert seen == ["Bearer standalone"]


async def test_each_auth_refuses_the_other_kind_of_client(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    sync_auth = DarajaAuth(lambda: OAuthToken("t", 3599), clock=clock)

    async def fetch() -> OAuthToken:
        return OAuthToken("t", 3599)

    async_auth = AsyncDarajaAuth(fetch, clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as ac:
        with pytest.raises(RuntimeError, match="AsyncDarajaAuth"):
            await ac.get("https://x.example/", auth=sync_auth)
    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as sc,
        pytest.raises(RuntimeError, match="DarajaAuth"),
    ):
        sc.get("https://x.example/", auth=async_auth)  # noqa: ASYNC212 - refused before sending


def test_sync_clients_share_a_sync_cache(httpx_mock: HTTPXMock, clock: FakeClock) -> None:
    httpx_mock.add_response(method="GET", json=fixture("oauth_ok"))
    cache = SyncInMemoryTokenCache()
    settings = make_settings()
    with (
        DarajaClient(settings, token_cache=cache, clock=clock, retry=RetryPolicy.never()) as a,
        DarajaClient(settings, token_cache=cache, clock=clock, retry=RetryPolicy.never()) as b,
    ):
        assert a.get_token() == b.get_token()
    assert len(httpx_mock.get_requests()) == 1


def test_a_flight_left_by_a_closed_loop_does_not_block_the_next_loop(clock: FakeClock) -> None:
    calls = 0
    started: list[asyncio.Event] = []

    async def fetch() -> OAuthToken:
        nonlocal calls
        calls += 1
        if calls == 1:
            started[0].set()
            await asyncio.Event().wait()  # never answers: its loop is closed under it
        return OAuthToken(f"tok-{calls}", 3599)

    auth = AsyncDarajaAuth(fetch, clock=clock)

    async def abandon() -> None:
        started.append(asyncio.Event())
        waiter = asyncio.ensure_future(auth.get_token())
        await started[0].wait()
        waiter.cancel()

    first = asyncio.new_event_loop()
    first.run_until_complete(abandon())
    first.close()
    assert asyncio.run(auth.get_token()) == "tok-2"
