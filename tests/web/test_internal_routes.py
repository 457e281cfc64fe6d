"""The internal app's STK routes: authentication, validation answers, status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.testing import RunningSimulator
from tests.support import API_KEY, HostPlugin, kit_settings, make_kit, new_phone

AUTH = {"X-API-Key": API_KEY}


@pytest.fixture
async def kit(engine: AsyncEngine, simulator: RunningSimulator) -> AsyncIterator[MpesaKit]:
    kit = make_kit(engine, kit_settings(simulator.base_url), HostPlugin())
    yield kit
    await kit.client.aclose()


@pytest.fixture
async def http(kit: MpesaKit) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=kit.internal_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        yield client


def body(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "phoneNumber": new_phone(),
        "amount": 500,
        "accountReference": "POL0012345",
        "transactionDesc": "Premium",
    }
    values.update(overrides)
    return values


async def test_initiate_then_status(http: httpx.AsyncClient) -> None:
    created = await http.post("/stk-push/initiate", json=body(), headers=AUTH)
    assert created.status_code == 201, created.text
    dto = created.json()
    assert dto["status"] == "PENDING"
    assert dto["amount"] == "500.00"
    assert dto["checkoutRequestID"].startswith("ws_CO_")
    assert dto["merchantRequestID"]
    assert dto["initiatedBy"] == "agent-7"
    status = await http.get(f"/stk-push/{dto['id']}", headers=AUTH)
    assert status.status_code == 200
    assert status.json() == dto


async def test_idempotency_key_header_replays(http: httpx.AsyncClient) -> None:
    payload = body()
    headers = {**AUTH, "Idempotency-Key": "order-42"}
    first = await http.post("/stk-push/initiate", json=payload, headers=headers)
    second = await http.post("/stk-push/initiate", json=payload, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    conflict = await http.post(
        "/stk-push/initiate", json={**payload, "amount": 501}, headers=headers
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"


async def test_without_credentials_401(http: httpx.AsyncClient) -> None:
    response = await http.post("/stk-push/initiate", json=body())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert (await http.get("/stk-push/x")).status_code == 401


async def test_without_any_authentication_hook_the_app_refuses(
    engine: AsyncEngine,
    simulator: RunningSimulator,
) -> None:
    kit = make_kit(engine, kit_settings(simulator.base_url), None)
    transport = httpx.ASGITransport(app=kit.internal_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        response = await client.post("/stk-push/initiate", json=body(), headers=AUTH)
    await kit.client.aclose()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "authentication_not_configured"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (body(phoneNumber="0812345678"), 400, "invalid_phone_number"),
        (body(amount="1.50"), 400, "invalid_amount"),
        (body(amount=0), 400, "invalid_amount"),
        (body(accountReference="POL-0012345"), 400, "invalid_account_reference"),
        (body(transactionDesc="far too long a description"), 400, "invalid_transaction_desc"),
        (body(accountReference="POL0000000"), 404, "unknown_account"),
        ({"amount": 5}, 400, "invalid_request"),
    ],
)
async def test_bad_requests_get_stable_codes(
    http: httpx.AsyncClient, payload: dict[str, object], status: int, code: str
) -> None:
    response = await http.post("/stk-push/initiate", json=payload, headers=AUTH)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_non_json_body(http: httpx.AsyncClient) -> None:
    response = await http.post("/stk-push/initiate", content=b"phone=1", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_unknown_request_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/stk-push/6f1c1d9e-0000-4000-8000-000000000000", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_second_prompt_409(http: httpx.AsyncClient) -> None:
    payload = body()
    assert (await http.post("/stk-push/initiate", json=payload, headers=AUTH)).status_code == 201
    again = await http.post("/stk-push/initiate", json=payload, headers=AUTH)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "stk_push_in_progress"


async def test_stk_disabled_503(engine: AsyncEngine, simulator: RunningSimulator) -> None:
    kit = make_kit(engine, kit_settings(simulator.base_url, stk_enabled=False), HostPlugin())
    transport = httpx.ASGITransport(app=kit.internal_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        response = await client.post("/stk-push/initiate", json=body(), headers=AUTH)
    await kit.client.aclose()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stk_disabled"


async def test_daraja_refusal_answers_with_darajas_code(
    engine: AsyncEngine,
    simulator: RunningSimulator,
) -> None:
    kit = make_kit(engine, kit_settings(simulator.base_url, consumer_secret="wrong"), HostPlugin())
    transport = httpx.ASGITransport(app=kit.internal_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        response = await client.post("/stk-push/initiate", json=body(), headers=AUTH)
    await kit.client.aclose()
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "stk_push_rejected"
    assert error["daraja_error_code"]
    assert error["classification"] == "auth"
