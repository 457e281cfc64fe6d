"""Many concurrent pushes share one OAuth request (single flight), async and threaded."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from mpesa_daraja_kit.client import (
    AsyncDarajaClient,
    CachedToken,
    DarajaClient,
    InMemoryTokenCache,
    RetryPolicy,
    SyncInMemoryTokenCache,
)
from tests.client.conftest import FakeClock, fixture, make_settings

CALLERS_ASYNC = 1000
CALLERS_THREADS = 50
DEADLINE = 30.0  # seconds; only reached if the test is failing


class CountingAsyncCache(InMemoryTokenCache):
    """Signals once ``expected`` callers have looked for a token (and found none)."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.looks = 0
        self.all_looked = asyncio.Event()

    async def get(self, key: str) -> CachedToken | None:
        self.looks += 1
        if self.looks >= self.expected:
            self.all_looked.set()
        return await super().get(key)


async def test_1000_concurrent_async_pushes_make_one_oauth_request(clock: FakeClock) -> None:
    cache = CountingAsyncCache(CALLERS_ASYNC)
    counts = {"token": 0, "push": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v1/generate":
            counts["token"] += 1
            # Hold the token answer until every caller has missed the cache: the
            # worst case, where each caller without single flight would fetch its own.
            await asyncio.wait_for(cache.all_looked.wait(), DEADLINE)
            return httpx.Response(200, json=fixture("oauth_ok"))
        counts["push"] += 1
        assert request.headers["Authorization"] == "Bearer c9SQxWWhmdVRlyh0zh8gZDTkubVF"
        return httpx.Response(200, json=fixture("stk_push_response_ok"))

    async with AsyncDarajaClient(
        make_settings(),
        transport=httpx.MockTransport(handler),
        token_cache=cache,
        retry=RetryPolicy.never(),
        clock=clock,
    ) as client:
        results = await asyncio.gather(
            *(client.stk_push("0708374149", 1, f"POL{i}") for i in range(CALLERS_ASYNC))
        )
    assert counts == {"token": 1, "push": CALLERS_ASYNC}
    assert all(r.response.accepted for r in results)


class CountingSyncCache(SyncInMemoryTokenCache):
    """Lets the token answer wait until ``expected`` threads have looked for a token."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.looks = 0
        self.changed = threading.Condition()

    def get(self, key: str) -> CachedToken | None:
        with self.changed:
            self.looks += 1
            self.changed.notify_all()
        return super().get(key)

    def wait_for_all(self) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.looks >= self.expected, DEADLINE)


def test_50_threads_on_the_sync_client_make_one_oauth_request(clock: FakeClock) -> None:
    cache = CountingSyncCache(CALLERS_THREADS)
    counts = {"token": 0, "push": 0}
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v1/generate":
            with lock:
                counts["token"] += 1
            cache.wait_for_all()
            return httpx.Response(200, json=fixture("oauth_ok"))
        with lock:
            counts["push"] += 1
        return httpx.Response(200, json=fixture("stk_push_response_ok"))

    with (
        DarajaClient(
            make_settings(),
            transport=httpx.MockTransport(handler),
            token_cache=cache,
            retry=RetryPolicy.never(),
            clock=clock,
        ) as client,
        ThreadPoolExecutor(max_workers=CALLERS_THREADS) as pool,
    ):
        futures = [
            pool.submit(client.stk_push, "0708374149", 1, f"POL{i}") for i in range(CALLERS_THREADS)
        ]
        results = [f.result(timeout=DEADLINE) for f in futures]
    assert counts == {"token": 1, "push": CALLERS_THREADS}
    assert all(r.response.accepted for r in results)
