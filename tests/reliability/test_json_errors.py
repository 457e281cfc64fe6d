"""Every error answer of the kit's apps is JSON with a stable code: no bare 404, 405 or 500."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit import hookimpl
from mpesa_daraja_kit.kit import MpesaKit
from tests.support import API_KEY, HostPlugin, kit_settings


class BrokenLookup(HostPlugin):
    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Any:
        raise RuntimeError("the host's policy service has a bug")


async def answer(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        return await http.request(method, path, **kwargs)


async def test_unknown_routes_and_methods_answer_json(sqlite_engine: AsyncEngine) -> None:
    kit = MpesaKit(kit_settings("http://127.0.0.1:9"), engine=sqlite_engine)
    for app in (kit.internal_app, kit.public_app):
        missing = await answer(app, "GET", "/no-such-route")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
    wrong = await answer(kit.public_app, "GET", "/confirmation")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_an_unexpected_error_answers_json_500(sqlite_engine: AsyncEngine) -> None:
    kit = MpesaKit(
        kit_settings("http://127.0.0.1:9"), engine=sqlite_engine, plugins=[BrokenLookup()]
    )
    response = await answer(
        kit.internal_app,
        "POST",
        "/stk-push/initiate",
        json={"phoneNumber": "254708374149", "amount": 10, "accountReference": "POL0012345"},
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "policy service" not in response.text  # no internals in the answer
    await kit.aclose()
