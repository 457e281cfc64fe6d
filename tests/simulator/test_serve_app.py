"""mpesa_daraja_kit.testing: real uvicorn servers for tests, started and stopped cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mpesa_daraja_kit.testing import run_simulator, serve_app, serve_app_async


def _app(events: list[str] | None = None, *, fail_startup: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if fail_startup:
            raise RuntimeError("no database")
        if events is not None:
            events.append("startup")
        yield
        if events is not None:
            events.append("shutdown")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello from {request.url.port}")

    return Starlette(routes=[Route("/", hello)], lifespan=lifespan)


def test_serves_on_a_free_local_port_with_lifespan() -> None:
    events: list[str] = []

    with serve_app(_app(events)) as url:
        assert url.startswith("http://127.0.0.1:")
        assert events == ["startup"]  # ready only once startup has run
        response = httpx.get(url)

    assert response.text == f"hello from {url.rsplit(':', 1)[1]}"
    assert events == ["startup", "shutdown"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_two_servers_get_different_ports() -> None:
    with serve_app(_app()) as first, serve_app(_app()) as second:
        assert first != second
        assert httpx.get(first).status_code == httpx.get(second).status_code == 200


def test_failed_startup_raises_instead_of_hanging() -> None:
    with pytest.raises(RuntimeError, match="did not start"), serve_app(_app(fail_startup=True)):
        pass


async def test_async_variant_does_not_block_the_loop() -> None:
    async with serve_app_async(_app()) as url, httpx.AsyncClient() as client:
        response = await client.get(url)

    assert response.status_code == 200


def test_run_simulator_yields_url_simulator_and_client_settings() -> None:
    with run_simulator() as running:
        url, sim = running
        token = httpx.get(
            f"{url}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(sim.settings.consumer_key, sim.settings.consumer_secret),
        )

        assert token.status_code == 200
        assert running.settings.daraja_base_url == url
