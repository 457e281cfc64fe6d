"""Fixtures for reconciliation: the simulator as Daraja, a clock the test moves, a query counter."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.client.retry import RetryPolicy
from mpesa_daraja_kit.clock import utc_now
from mpesa_daraja_kit.events import Event
from mpesa_daraja_kit.hookspecs import hookimpl
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator
from tests.support import HostPlugin, kit_settings, make_kit


class FakeClock:
    """Aware UTC now that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingTransport(httpx.AsyncBaseTransport):
    """Pass requests to the simulator; count STK queries per CheckoutRequestID."""

    def __init__(self, queries: Counter[str], fail_queries_with: dict[str, Any] | None = None):
        self._inner = httpx.AsyncHTTPTransport()
        self.queries = queries
        self.fail_queries_with = fail_queries_with
        self._lock = threading.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/stkpushquery/v1/query"):
            checkout = json.loads(request.content)["CheckoutRequestID"]
            with self._lock:
                self.queries[checkout] += 1
            if self.fail_queries_with is not None:
                return httpx.Response(500, json=self.fail_queries_with, request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class ReconcilePlugin(HostPlugin):
    """The test host, also listening for missing confirmations."""

    @hookimpl
    def mpesa_stk_push_missing_ipn(self, event: Event) -> None:
        self._record(event)


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """The simulator; the kit's clock moves ahead of real time, so timestamps are lenient."""
    config = SimulatorConfig(callback_delay=0, allow_plain_http=True, timestamp_tolerance=86400)
    with run_simulator(config=config) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queries() -> Counter[str]:
    return Counter()


@pytest.fixture
def plugin() -> ReconcilePlugin:
    return ReconcilePlugin()


def build_kit(
    engine: AsyncEngine,
    simulator: RunningSimulator,
    clock: FakeClock,
    queries: Counter[str],
    plugin: HostPlugin | None = None,
    **overrides: Any,
) -> MpesaKit:
    """Return a kit on ``engine`` talking to the simulator through a counting transport."""
    transport = CountingTransport(queries)
    kit = make_kit(
        engine,
        kit_settings(simulator.base_url, **overrides),
        plugin,
        clock=clock,
        daraja_transport=transport,
    )
    kit.client.retry = RetryPolicy.no_wait()
    return kit


@pytest.fixture
async def kit(
    engine: AsyncEngine,
    simulator: RunningSimulator,
    clock: FakeClock,
    queries: Counter[str],
    plugin: ReconcilePlugin,
) -> AsyncIterator[MpesaKit]:
    kit = build_kit(engine, simulator, clock, queries, plugin)
    try:
        yield kit
    finally:
        await kit.client.aclose()
