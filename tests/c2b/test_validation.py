"""C2B validation: the host's answer in Daraja's format, or the default when the host is slow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.events import Account, C2BDecision
from mpesa_daraja_kit.hookspecs import hookimpl
from mpesa_daraja_kit.kit import MpesaKit
from tests.c2b.conftest import payments
from tests.conftest import fixture_bytes, load_fixture
from tests.support import HostPlugin, kit_settings, make_kit


async def validate(kit: MpesaKit, body: bytes, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        return await client.post(
            "/validation",
            content=body,
            headers={"Content-Type": "application/json", **headers},
        )


def body_for(reference: str) -> bytes:
    data = load_fixture("c2b_validation")
    data["BillRefNumber"] = reference
    return json.dumps(data).encode()


@pytest.fixture
async def build(engine: AsyncEngine) -> AsyncIterator[Any]:
    """Build kits with extra plugins and settings; close them afterwards."""
    kits: list[MpesaKit] = []

    def _build(*plugins: Any, **settings: Any) -> MpesaKit:
        kit = make_kit(engine, kit_settings("http://127.0.0.1:9", **settings), HostPlugin())
        for extra in plugins:
            kit.pm.register(extra)
        kits.append(kit)
        return kit

    yield _build
    for kit in kits:
        await kit.client.aclose()


async def test_known_account_is_accepted_and_logged(build: Any) -> None:
    kit = build()
    response = await validate(kit, fixture_bytes("c2b_validation"), **{"X-Correlation-ID": "v-1"})
    assert response.status_code == 200
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert response.headers["X-Correlation-ID"] == "v-1"
    (stored,) = await kit.callbacks.list(kind=CallbackKind.C2B_VALIDATION)
    assert stored.raw_body == fixture_bytes("c2b_validation")
    assert stored.outcome is CallbackOutcome.APPLIED
    assert stored.reference == "SGA7RT61SV"
    assert stored.correlation_id == "v-1"
    assert await payments(kit) == []  # validation never records money


async def test_unknown_account_is_rejected_with_c2b00012(build: Any) -> None:
    kit = build()
    response = await validate(kit, body_for("NOPE999"))
    assert response.json()["ResultCode"] == "C2B00012"
    assert response.json()["ResultDesc"].startswith("Rejected")
    (stored,) = await kit.callbacks.list(kind=CallbackKind.C2B_VALIDATION)
    assert stored.error_code == "C2B00012"


async def test_always_accept_mode_accepts_unknown_accounts(build: Any) -> None:
    kit = build(c2b_validation_mode="always_accept")
    response = await validate(kit, body_for("NOPE999"))
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}


class Rejecter:
    @hookimpl
    def mpesa_validate_c2b(self, payment: Any, account: Account | None) -> C2BDecision:
        assert account is not None and account.account_id == "policy-1"
        assert payment.trans_amount == "1.00"
        return C2BDecision.reject("C2B00013", "Rejected: amount below premium")


class Accepter:
    @hookimpl
    async def mpesa_validate_c2b(self, payment: Any) -> C2BDecision:
        return C2BDecision.accept(third_party_trans_id="host-42")


class BadCode:
    @hookimpl
    def mpesa_validate_c2b(self) -> C2BDecision:
        return C2BDecision.reject("NOT-A-CODE", "Rejected")


async def test_host_hook_decides_before_the_default(build: Any) -> None:
    response = await validate(build(Rejecter()), fixture_bytes("c2b_validation"))
    assert response.json() == {
        "ResultCode": "C2B00013",
        "ResultDesc": "Rejected: amount below premium",
    }
    response = await validate(build(Accepter()), body_for("NOPE999"))
    assert response.json() == {
        "ResultCode": "0",
        "ResultDesc": "Accepted",
        "ThirdPartyTransID": "host-42",
    }


async def test_a_code_daraja_does_not_know_becomes_c2b00016(build: Any) -> None:
    response = await validate(build(BadCode()), fixture_bytes("c2b_validation"))
    assert response.json()["ResultCode"] == "C2B00016"


class SlowLookup:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return None


class SlowValidate:
    @hookimpl
    async def mpesa_validate_c2b(self) -> C2BDecision:
        await asyncio.sleep(30)
        return C2BDecision.reject("C2B00016")


class FailingValidate:
    @hookimpl
    def mpesa_validate_c2b(self) -> C2BDecision:
        raise RuntimeError("host bug")


@pytest.mark.parametrize(
    ("response_type", "mode", "expected"),
    [
        ("Completed", "known_account", "0"),
        ("Cancelled", "known_account", "C2B00016"),
        ("Cancelled", "always_accept", "0"),
    ],
)
async def test_slow_lookup_gets_the_default_answer(
    build: Any,
    caplog: pytest.LogCaptureFixture,
    response_type: str,
    mode: str,
    expected: str,
) -> None:
    slow = SlowLookup()
    kit = build(
        slow, validation_timeout=0.2, c2b_response_type=response_type, c2b_validation_mode=mode
    )
    response = await asyncio.wait_for(validate(kit, body_for("NOPE999")), timeout=5)
    assert response.json()["ResultCode"] == expected
    assert slow.cancelled.is_set()  # the hook was not left running
    assert "took longer than 0.2 s" in caplog.text
    (stored,) = await kit.callbacks.list(kind=CallbackKind.C2B_VALIDATION)
    assert "answered the default" in (stored.error_message or "")


@pytest.mark.parametrize("plugin", [SlowValidate(), FailingValidate()], ids=["slow", "failing"])
async def test_slow_or_failing_validate_hook_gets_the_default(build: Any, plugin: Any) -> None:
    kit = build(plugin, validation_timeout=0.2)  # Completed: M-Pesa would accept anyway
    response = await asyncio.wait_for(validate(kit, body_for("NOPE999")), timeout=5)
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}


async def test_unreadable_validation_body_is_kept_and_gets_the_default(build: Any) -> None:
    kit = build(c2b_response_type="Cancelled")
    response = await validate(kit, b"<xml/>")
    assert response.status_code == 200
    assert response.json()["ResultCode"] == "C2B00016"
    (stored,) = await kit.callbacks.list(kind=CallbackKind.C2B_VALIDATION)
    assert stored.outcome is CallbackOutcome.FAILED
    assert stored.error_code == "payload_not_json"
    assert stored.raw_body == b"<xml/>"
