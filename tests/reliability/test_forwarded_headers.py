"""Forged money is refused under uvicorn's default settings (proxy headers on).

uvicorn rewrites ``scope["client"]`` from ``X-Forwarded-For`` when the peer is in
``--forwarded-allow-ips`` (127.0.0.1 by default), before any ASGI app sees the
request. A local caller (or a same-host proxy passing the client's header
through) could then post as a Safaricom address. These tests serve the kit with
real uvicorn on 127.0.0.1 and post forged callbacks the way an attacker would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.enums import CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.simulator import CallbackMode, Outcome, OutcomeSpec, SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator, serve_app_async
from tests.c2b.conftest import confirmation_body
from tests.support import HostPlugin, kit_settings, new_phone, stk_callback_body

SAFARICOM = "196.201.214.200"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with run_simulator(config=SimulatorConfig(callback_delay=0)) as running:
        yield running


@attrs.define
class Host:
    kit: MpesaKit
    url: str
    sim: RunningSimulator

    async def post(self, path: str, body: Any, forwarded_for: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url) as client:
            return await client.post(
                f"/hooks/pay{path}",
                content=json.dumps(body, default=str),
                headers={**JSON, "X-Forwarded-For": forwarded_for},
            )

    async def payments(self) -> int:
        async with self.kit.engine.connect() as conn:
            count = await conn.scalar(sa.select(sa.func.count()).select_from(payment_items))
        return int(count or 0)

    async def pending_prompt(self, amount: int) -> Any:
        """A real KES ``amount`` prompt whose genuine callback has not come yet."""
        phone = new_phone()
        self.sim.simulator.queue_outcome(
            OutcomeSpec(outcome=Outcome.SUCCESS, callback=CallbackMode.NEVER, phone_number=phone)
        )
        view = (await self.kit.stk.initiate(phone, amount, "POL0012345")).request
        assert view.status is StkPushStatus.PENDING and view.checkout_request_id
        return view


def _host(
    engine: AsyncEngine, simulator: RunningSimulator, **settings: Any
) -> tuple[MpesaKit, Starlette]:
    config = kit_settings(
        simulator.base_url, "https://insurer.example/hooks/pay", environment="production",
        **settings,
    )  # fmt: skip
    kit = MpesaKit(config, engine=engine, plugins=[HostPlugin()])
    app = Starlette(
        routes=[Mount("/hooks/pay", kit.public_app)], lifespan=lambda app: kit.lifespan()
    )
    return kit, app


@pytest.fixture
async def serve(sqlite_engine: AsyncEngine, simulator: RunningSimulator) -> AsyncIterator[Any]:
    # The guard judges addresses before any database work, the same on every backend;
    # SQLite lets the server's thread and the test share one engine across event loops.
    engine = sqlite_engine
    stack: list[Any] = []

    async def start(uvicorn_options: dict[str, Any] | None = None, **settings: Any) -> Host:
        kit, app = _host(engine, simulator, **settings)
        manager = serve_app_async(app, **(uvicorn_options or {}))
        url = await manager.__aenter__()
        stack.append(manager)
        return Host(kit, url, simulator)

    yield start
    for manager in reversed(stack):
        await manager.__aexit__(None, None, None)


async def test_forged_posts_are_all_refused_under_uvicorn_defaults(serve: Any) -> None:
    # Production, the Safaricom allowlist, no MPESA_TRUSTED_PROXIES; uvicorn's defaults.
    host: Host = await serve()
    prompt = await host.pending_prompt(500)
    answers = []
    for _ in range(6):
        answers.append(await host.post("/confirmation", confirmation_body(), SAFARICOM))
        answers.append(await host.post("/validation", confirmation_body(), SAFARICOM))
        forged = stk_callback_body(
            prompt.checkout_request_id,
            merchant_request_id=prompt.merchant_request_id,
            amount="1.00",
            receipt=f"UFORGED{len(answers):03d}",
        )
        answers.append(await host.post("/stk-push/callback", forged, SAFARICOM))
    assert [a.status_code for a in answers] == [403] * 18
    assert {a.json()["error"]["code"] for a in answers} == {"callback_untrusted_forwarding"}
    assert await host.payments() == 0
    async with host.kit.engine.connect() as conn:
        status = await conn.scalar(
            sa.select(stk_requests.c.status).where(stk_requests.c.id == prompt.id)
        )
    assert status is StkPushStatus.PENDING
    refused = await host.kit.callbacks.list(outcomes=[CallbackOutcome.REFUSED])
    assert len(refused) == 18
    # The server handed the header's claim over as the peer: it is logged as a claim.
    assert {r.source_address for r in refused} == {f"{SAFARICOM} (unproven)"}


async def test_a_trusted_proxy_with_the_server_rewriting_first_is_refused_not_believed(
    serve: Any,
) -> None:
    # MPESA_TRUSTED_PROXIES names the local proxy, but uvicorn (defaults) has already
    # replaced the peer with the header's claim: the kit cannot tell, so it refuses.
    host: Host = await serve(trusted_proxies="127.0.0.1")
    answer = await host.post("/confirmation", confirmation_body(), SAFARICOM)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "callback_untrusted_forwarding"
    assert await host.payments() == 0


async def test_the_documented_proxy_deployment_accepts_the_real_client(serve: Any) -> None:
    # docs/security.md: uvicorn --no-proxy-headers, MPESA_TRUSTED_PROXIES=127.0.0.1 and
    # a proxy that appends the address it saw: the kit reads the chain from the right.
    host: Host = await serve({"proxy_headers": False}, trusted_proxies="127.0.0.1")
    genuine = await host.post("/confirmation", confirmation_body(), SAFARICOM)
    assert genuine.status_code == 200
    assert await host.payments() == 1
    # A client that writes the Safaricom address itself stays on the left: refused.
    spoofed = await host.post("/confirmation", confirmation_body(), f"{SAFARICOM}, 203.0.113.9")
    assert spoofed.status_code == 403
    assert spoofed.json()["error"]["code"] == "callback_address_not_allowed"
    assert await host.payments() == 1
