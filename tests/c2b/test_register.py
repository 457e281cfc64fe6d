"""Registering the C2B URLs: from the settings, v1 or v2, never with a word Safaricom refuses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.errors import ValidationError
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.testing import RunningSimulator
from tests.conftest import load_fixture
from tests.support import HostPlugin, kit_settings, make_kit

MakeKit = Callable[..., MpesaKit]


@pytest.fixture
async def daraja(sqlite_engine: AsyncEngine) -> AsyncIterator[tuple[MakeKit, list[httpx.Request]]]:
    """Kits whose Daraja is a mock that records every request it gets."""
    sent: list[httpx.Request] = []
    kits: list[MpesaKit] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/oauth"):
            return httpx.Response(200, json=load_fixture("oauth_ok"))
        sent.append(request)
        return httpx.Response(200, json=load_fixture("c2b_register_ok"))

    def build(**settings: object) -> MpesaKit:
        kit = make_kit(
            sqlite_engine,
            kit_settings("http://daraja.test", **settings),  # type: ignore[arg-type]
            HostPlugin(),
            daraja_transport=httpx.MockTransport(handler),
        )
        kits.append(kit)
        return kit

    yield build, sent
    for kit in kits:
        await kit.client.aclose()


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_urls_come_from_the_settings_and_the_version_is_chosen(
    daraja: tuple[MakeKit, list[httpx.Request]], version: str
) -> None:
    build, sent = daraja
    kit = build(
        callback_base="https://insurer.example/hooks/pay",
        c2b_register_version=version,
        c2b_response_type="Cancelled",
    )
    response = await kit.c2b.register_urls()
    assert response.response_code == "0"
    assert response.originator_conversation_id == "7619-37765134-1"
    (request,) = sent
    assert request.url.path == f"/mpesa/c2b/{version}/registerurl"
    assert json.loads(request.content) == {
        "ShortCode": "174379",
        "ResponseType": "Cancelled",
        "ConfirmationURL": "https://insurer.example/hooks/pay/confirmation",
        "ValidationURL": "https://insurer.example/hooks/pay/validation",
    }


async def test_kit_register_urls_takes_explicit_urls(
    daraja: tuple[MakeKit, list[httpx.Request]],
) -> None:
    build, sent = daraja
    kit = build()
    await kit.register_urls(
        "https://a.example/c2b/confirm", "https://a.example/c2b/check", version="v1"
    )
    (request,) = sent
    assert request.url.path == "/mpesa/c2b/v1/registerurl"
    assert json.loads(request.content)["ConfirmationURL"] == "https://a.example/c2b/confirm"


@pytest.mark.parametrize(
    ("base", "word"),
    [
        ("https://insurer.example/api/public/mpesa", "mpesa"),
        ("https://insurer.example/hooks/M-PESA-Safaricom", "safaricom"),
        ("https://insurer.example/cmd/hooks", "cmd"),
    ],
)
async def test_banned_words_are_refused_before_daraja_is_called(
    daraja: tuple[MakeKit, list[httpx.Request]], base: str, word: str
) -> None:
    build, sent = daraja
    kit = build(callback_base=base)
    with pytest.raises(ValidationError, match=repr(word)):
        await kit.c2b.register_urls()
    assert sent == []


async def test_registration_reaches_the_simulator(
    sqlite_engine: AsyncEngine, c2b_simulator: RunningSimulator
) -> None:
    kit = make_kit(
        sqlite_engine,
        kit_settings(c2b_simulator.base_url, callback_base="http://127.0.0.1:9/hooks/pay"),
    )
    try:
        await kit.register_urls()
    finally:
        await kit.client.aclose()
    registration = c2b_simulator.simulator.registrations()["174379"]
    assert registration.confirmation_url == "http://127.0.0.1:9/hooks/pay/confirmation"
    assert registration.response_type == "Completed"
