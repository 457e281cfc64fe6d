"""Callback guards: allowlist, trusted proxies, path secret, size and content type."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.errors import ValidationError
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.web.guards import allowlist_for, resolve_client_address
from tests.conftest import fixture_bytes
from tests.support import HostPlugin, kit_settings, make_kit

SAFARICOM = "196.201.214.200"
SECRET = "k3y-" + "x" * 28
JSON = {"Content-Type": "application/json"}
BODY = fixture_bytes("stk_callback_success")


@pytest.fixture
async def make(sqlite_engine: AsyncEngine) -> AsyncIterator[Any]:
    kits: list[MpesaKit] = []

    def build(**overrides: Any) -> MpesaKit:
        kit = make_kit(sqlite_engine, kit_settings("http://127.0.0.1:9", **overrides), HostPlugin())
        kits.append(kit)
        return kit

    yield build
    for kit in kits:
        await kit.client.aclose()


async def post(
    app: Any,
    path: str = "/stk-push/callback",
    *,
    peer: str = SAFARICOM,
    body: Any = BODY,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        return await client.post(path, content=body, headers={**JSON, **(headers or {})})


async def payments(kit: MpesaKit) -> int:
    async with kit.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(payment_items)) or 0)


async def test_allowed_address_is_accepted(make: Any) -> None:
    kit = make(callback_allowlist="safaricom")
    response = await post(kit.public_app)
    assert response.status_code == 200
    (stored,) = await kit.callbacks.list()
    assert stored.source_address == SAFARICOM
    assert stored.outcome is not CallbackOutcome.REFUSED


async def test_refused_address_is_403_logged_and_kept_as_refused(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kit = make(callback_allowlist="safaricom, 10.20.0.0/16")
    assert (await post(kit.public_app, peer="10.20.3.4")).status_code == 200
    response = await post(kit.public_app, peer="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "callback_address_not_allowed"
    refused = await kit.callbacks.list(outcomes=[CallbackOutcome.REFUSED])
    assert len(refused) == 1
    assert refused[0].source_address == "203.0.113.9"
    assert refused[0].kind is CallbackKind.STK_CALLBACK
    assert refused[0].raw_body == BODY
    assert refused[0].error_code == "callback_address_not_allowed"
    assert await payments(kit) == 0
    events = [r for r in caplog.records if getattr(r, "security_event", None)]
    assert events and events[-1].source_address == "203.0.113.9"


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_refused(make: Any) -> None:
    kit = make(callback_allowlist="safaricom", trusted_proxies="10.0.0.0/8")
    response = await post(
        kit.public_app, peer="203.0.113.9", headers={"X-Forwarded-For": SAFARICOM}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "callback_untrusted_forwarding"
    (refused,) = await kit.callbacks.list()
    # The server in front may have taken the peer from the header: kept as a claim.
    assert refused.source_address == "203.0.113.9 (unproven)"


async def test_trusted_proxy_chain_is_read_from_the_right(make: Any) -> None:
    kit = make(callback_allowlist="safaricom", trusted_proxies="10.0.0.0/8")
    chain = f"198.51.100.7, {SAFARICOM}, 10.0.0.7"
    ok = await post(kit.public_app, peer="10.0.0.5", headers={"X-Forwarded-For": chain})
    assert ok.status_code == 200
    (stored,) = await kit.callbacks.list()
    assert stored.source_address == SAFARICOM
    # A client that writes the Safaricom address itself stays on the left: refused.
    spoofed = f"{SAFARICOM}, 198.51.100.7"
    refused = await post(kit.public_app, peer="10.0.0.5", headers={"X-Forwarded-For": spoofed})
    assert refused.status_code == 403


def test_resolve_client_address() -> None:
    proxies = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    assert resolve_client_address("203.0.113.9", ["1.2.3.4"], proxies) == "203.0.113.9"
    assert resolve_client_address("10.0.0.1", [], proxies) == "10.0.0.1"
    assert resolve_client_address("10.0.0.1", ["1.2.3.4, 10.1.1.1"], proxies) == "1.2.3.4"
    assert resolve_client_address("10.0.0.1", ["9.9.9.9", "1.2.3.4"], proxies) == "1.2.3.4"
    assert resolve_client_address("10.0.0.1", ["10.2.2.2"], proxies) == "10.2.2.2"
    assert resolve_client_address("10.0.0.1", ["not-an-ip"], proxies) == "not-an-ip"
    assert resolve_client_address("fd00::1", ["[2001:db8::1]:443"], proxies) == "2001:db8::1"
    assert resolve_client_address("::ffff:10.0.0.1", ["1.2.3.4:555"], proxies) == "1.2.3.4"


def test_allowlist_defaults() -> None:
    assert allowlist_for(Settings.for_simulator()) is None
    production = Settings(
        environment="production",
        consumer_key="k",
        consumer_secret="s",
        passkey="p",
        business_short_code="600123",
    )
    networks = allowlist_for(production)
    assert networks is not None
    assert ipaddress.ip_address(SAFARICOM) in networks[0]
    overridden = Settings(
        environment="production",
        consumer_key="k",
        consumer_secret="s",
        passkey="p",
        business_short_code="600123",
        callback_allowlist="any",
    )
    assert allowlist_for(overridden) is None


async def test_path_secret(make: Any) -> None:
    kit = make(callback_path_secret=SECRET)
    assert kit.settings.stk_callback_url.endswith(f"/{SECRET}/stk-push/callback")
    assert (await post(kit.public_app, f"/{SECRET}/stk-push/callback")).status_code == 200
    wrong = await post(kit.public_app, f"/{SECRET[:-1]}y/stk-push/callback")
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "callback_wrong_path_secret"
    assert (await post(kit.public_app, "/stk-push/callback")).status_code == 403
    refused = await kit.callbacks.list(outcomes=[CallbackOutcome.REFUSED])
    assert [r.kind for r in refused] == [CallbackKind.STK_CALLBACK] * 2
    # Mounted by a host under its own prefix.
    host = Starlette(routes=[Mount("/hooks/daraja", kit.public_app)])
    assert (await post(host, f"/hooks/daraja/{SECRET}/stk-push/callback")).status_code == 200
    assert (await post(host, "/hooks/daraja/stk-push/callback")).status_code == 403


async def test_oversized_body_is_413_and_only_a_prefix_is_kept(make: Any) -> None:
    kit = make(callback_max_bytes=2048)
    response = await post(kit.public_app, body=b"{" + b" " * 100_000 + b"}")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "callback_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(50):
            yield b" " * 1000

    assert (await post(kit.public_app, body=chunks())).status_code == 413
    refused = await kit.callbacks.list(outcomes=[CallbackOutcome.REFUSED])
    assert len(refused) == 2
    assert all(len(r.raw_body) <= 4096 for r in refused)
    assert all("only the first" in (r.error_message or "") for r in refused)


async def test_an_oversized_body_is_never_read_in_full(make: Any) -> None:
    kit = make(callback_max_bytes=4096)
    served = 0

    async def receive() -> dict[str, Any]:
        nonlocal served
        served += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": served < 1000}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/stk-push/callback",
        "raw_path": b"/stk-push/callback",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": (SAFARICOM, 1),
        "server": ("kit", 80),
    }
    await kit.public_app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert served <= 6


async def test_wrong_content_type_is_415(make: Any) -> None:
    kit = make()
    response = await post(kit.public_app, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "callback_unsupported_media_type"
    charset = await post(
        kit.public_app, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert charset.status_code == 200
    (accepted, refused) = await kit.callbacks.list()
    assert refused.outcome is CallbackOutcome.REFUSED
    assert refused.content_type == "text/plain"
    assert accepted.outcome is not CallbackOutcome.REFUSED


async def test_other_methods_reach_the_router(make: Any) -> None:
    kit = make(callback_allowlist="safaricom")
    transport = httpx.ASGITransport(app=kit.public_app, client=(SAFARICOM, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        assert (await client.get("/stk-push/callback")).status_code == 405
    assert await kit.callbacks.list() == []


async def test_a_refused_body_is_never_replayed(make: Any) -> None:
    kit = make(callback_path_secret=SECRET)
    forged = await post(kit.public_app, "/stk-push/callback")  # no secret: a forgery
    assert forged.status_code == 403
    (refused,) = await kit.callbacks.list(outcomes=[CallbackOutcome.REFUSED])
    with pytest.raises(ValidationError, match="never replayed"):
        await kit.replay_callback(refused.id, force=True)
    assert await kit.replay_failed_callbacks(outcomes=(CallbackOutcome.REFUSED,)) == []
    (still,) = await kit.callbacks.list(outcomes=[CallbackOutcome.REFUSED])
    assert still.attempts == refused.attempts
