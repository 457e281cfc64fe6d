"""The public app answers Safaricom the way Safaricom expects, whatever it sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.enums import CallbackOutcome
from mpesa_daraja_kit.kit import MpesaKit
from tests.conftest import fixture_bytes
from tests.support import HostPlugin, kit_settings, make_kit


@pytest.fixture
async def kit(engine: AsyncEngine) -> AsyncIterator[MpesaKit]:
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), HostPlugin())
    yield kit
    await kit.client.aclose()


@pytest.mark.parametrize(
    "body", [fixture_bytes("stk_callback_success"), b"not json", b"", b'{"Body": {}}']
)
async def test_stk_callback_always_accepted_once_stored(kit: MpesaKit, body: bytes) -> None:
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        response = await client.post(
            "/stk-push/callback",
            content=body,
            headers={"Content-Type": "application/json", "X-Correlation-ID": "corr-1"},
        )
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert response.headers["X-Correlation-ID"] == "corr-1"
    (stored,) = await kit.callbacks.list()
    assert stored.raw_body == body
    assert stored.correlation_id == "corr-1"
    assert stored.outcome in (CallbackOutcome.WAITING, CallbackOutcome.FAILED)
