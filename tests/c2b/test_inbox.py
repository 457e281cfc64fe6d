"""Invalid confirmations stay in the callback log with their reason and are replayed after a fix."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from mpesa_daraja_kit.db.models import stk_requests
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.errors import ErrorCode, NotFound, ValidationError
from mpesa_daraja_kit.kit import MpesaKit
from tests.c2b.conftest import confirmation, confirmation_body, payments, stk_callback
from tests.support import HostPlugin, new_phone

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def with_(**changes: Any) -> bytes:
    body = confirmation_body()
    for key, value in changes.items():
        if value is _DROP:
            del body[key]
        else:
            body[key] = value
    return json.dumps(body).encode()


_DROP = object()

INVALID = [
    pytest.param(with_(TransID=_DROP), ErrorCode.PAYLOAD_MISSING_FIELD, id="no-TransID"),
    pytest.param(with_(TransID="  "), ErrorCode.PAYLOAD_MISSING_FIELD, id="blank-TransID"),
    pytest.param(with_(TransTime=_DROP), ErrorCode.PAYLOAD_MISSING_FIELD, id="no-time"),
    pytest.param(with_(TransAmount=None), ErrorCode.PAYLOAD_MISSING_FIELD, id="null-amt"),
    pytest.param(
        with_(BusinessShortCode=_DROP), ErrorCode.PAYLOAD_MISSING_FIELD, id="no-shortcode"
    ),
    pytest.param(with_(TransTime="2024-07-10"), ErrorCode.PAYLOAD_INVALID, id="iso-time"),
    pytest.param(with_(TransTime="20241301101603"), ErrorCode.PAYLOAD_INVALID, id="month13"),
    pytest.param(with_(TransAmount="abc"), ErrorCode.PAYLOAD_INVALID, id="amount-text"),
    pytest.param(with_(TransAmount="-5.00"), ErrorCode.PAYLOAD_INVALID, id="negative"),
    pytest.param(with_(TransAmount="0.00"), ErrorCode.PAYLOAD_INVALID, id="zero"),
    pytest.param(with_(TransAmount="1.005"), ErrorCode.PAYLOAD_INVALID, id="sub-cent"),
    pytest.param(with_(TransID={"id": 1}), ErrorCode.PAYLOAD_INVALID, id="object-id"),
    pytest.param(with_(TransID="SGA 7RT61SV"), ErrorCode.PAYLOAD_INVALID, id="space-id"),
    pytest.param(b"not json", ErrorCode.PAYLOAD_NOT_JSON, id="not-json"),
    pytest.param(b"", ErrorCode.PAYLOAD_NOT_JSON, id="empty"),
    pytest.param(b"[1, 2]", ErrorCode.PAYLOAD_NOT_JSON, id="json-list"),
]


async def post(
    kit: MpesaKit, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        return await client.post(
            "/confirmation",
            content=body,
            headers={"Content-Type": content_type, "X-Correlation-ID": "corr-7"},
        )


@pytest.mark.parametrize(("body", "code"), INVALID)
async def test_invalid_confirmation_is_kept_with_its_reason_and_accepted(
    kit: MpesaKit, plugin: HostPlugin, body: bytes, code: ErrorCode
) -> None:
    response = await post(kit, body)
    assert response.status_code == 200
    assert response.json() == ACCEPTED  # Safaricom cannot fix it; the operator can
    (stored,) = await kit.callbacks.list(outcomes=[CallbackOutcome.FAILED])
    assert stored.kind is CallbackKind.C2B_CONFIRMATION
    assert stored.raw_body == body
    assert stored.error_code == code
    assert stored.error_message
    assert stored.correlation_id == "corr-7"
    assert await payments(kit) == []  # nothing half-parsed is stored
    assert plugin.events == []


# Content types are judged by the service (the public app's guards may refuse non-JSON
# types before the service sees them; the service must still do the right thing).


async def test_a_form_body_is_kept_naming_the_wrong_content_type(kit: MpesaKit) -> None:
    form = b"TransID=SGA1&TransAmount=1.00"
    outcome = await kit.c2b.handle_confirmation(
        confirmation(form, content_type="application/x-www-form-urlencoded")
    )
    assert outcome is CallbackOutcome.FAILED
    (stored,) = await kit.callbacks.list(outcomes=[CallbackOutcome.FAILED])
    assert stored.error_code == ErrorCode.PAYLOAD_WRONG_CONTENT_TYPE
    assert "application/x-www-form-urlencoded" in (stored.error_message or "")
    assert stored.raw_body == form
    assert await payments(kit) == []


async def test_json_sent_with_a_wrong_content_type_is_still_recorded(kit: MpesaKit) -> None:
    body = confirmation(confirmation_body(), content_type="text/plain")
    assert await kit.c2b.handle_confirmation(body) is CallbackOutcome.APPLIED
    assert len(await payments(kit)) == 1


async def test_unreadable_balance_does_not_lose_the_money(kit: MpesaKit) -> None:
    await post(kit, with_(OrgAccountBalance="n/a"))
    (row,) = await payments(kit)
    assert row.balance is None


async def test_failed_record_replays_after_the_fix_idempotently(
    kit: MpesaKit, plugin: HostPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def bug(conn: object, payment: object) -> bool:
        raise RuntimeError("linking bug")

    monkeypatch.setattr(kit.linker, "link_payment", bug)
    body = confirmation_body()
    response = await post(kit, json.dumps(body).encode())
    assert response.json() == ACCEPTED
    (failed,) = await kit.callbacks.list(outcomes=[CallbackOutcome.FAILED])
    assert failed.error_code == ErrorCode.CALLBACK_FAILED
    assert "linking bug" in (failed.error_message or "")
    assert failed.reference == body["TransID"]
    assert await payments(kit) == []  # the half-done transaction was rolled back
    assert plugin.events == []

    monkeypatch.undo()  # the fix is deployed
    result = await kit.replay_callback(failed.id)
    assert (result.previous, result.outcome, result.replayed) == (
        CallbackOutcome.FAILED,
        CallbackOutcome.APPLIED,
        True,
    )
    assert len(await payments(kit)) == 1
    assert len(plugin.of("mpesa_payment_recorded")) == 1

    again = await kit.replay_callback(failed.id)
    assert (again.outcome, again.replayed) == (CallbackOutcome.APPLIED, False)
    forced = await kit.replay_callback(failed.id, force=True)
    assert (forced.outcome, forced.replayed) == (CallbackOutcome.DUPLICATE, True)
    assert len(await payments(kit)) == 1
    assert len(plugin.of("mpesa_payment_recorded")) == 1
    stored = await kit.callbacks.get(failed.id)
    assert stored is not None and stored.attempts == 3


async def test_waiting_stk_callback_replays_once_its_request_exists(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    early = stk_callback("ws_CO_C2B_EARLY", receipt="SGW1", phone=phone)
    assert await kit.stk.handle_callback(early) is CallbackOutcome.WAITING
    (waiting,) = await kit.callbacks.list(outcomes=[CallbackOutcome.WAITING])
    view = (await kit.stk.initiate(phone, 1, "POL0012345")).request
    async with kit.engine.begin() as conn:  # as if Daraja had answered with that id
        await conn.execute(
            sa.update(stk_requests)
            .where(stk_requests.c.id == view.id)
            .values(checkout_request_id="ws_CO_C2B_EARLY")
        )
    result = await kit.replay_callback(waiting.id)
    assert (result.previous, result.outcome) == (CallbackOutcome.WAITING, CallbackOutcome.APPLIED)
    assert (await kit.stk.get(view.id)).status is StkPushStatus.COMPLETED
    assert [p.transaction_reference for p in await payments(kit)] == ["SGW1"]


async def test_replay_all_failed(
    kit: MpesaKit, plugin: HostPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def bug(conn: object, payment: object) -> bool:
        raise RuntimeError("linking bug")

    monkeypatch.setattr(kit.linker, "link_payment", bug)
    await post(kit, json.dumps(confirmation_body()).encode())
    await post(kit, json.dumps(confirmation_body()).encode())
    monkeypatch.undo()
    await post(kit, b"still not json")
    results = await kit.replay_failed_callbacks()
    assert [r.outcome for r in results] == [
        CallbackOutcome.APPLIED,
        CallbackOutcome.APPLIED,
        CallbackOutcome.FAILED,
    ]
    assert [r.callback_id for r in results] == sorted(r.callback_id for r in results)
    assert len(await payments(kit)) == 2
    assert len(plugin.of("mpesa_payment_recorded")) == 2


async def test_validation_bodies_and_unknown_ids_are_not_replayed(kit: MpesaKit) -> None:
    await kit.c2b.handle_validation(
        confirmation(confirmation_body(), kind=CallbackKind.C2B_VALIDATION)
    )
    (validation,) = await kit.callbacks.list(kind=CallbackKind.C2B_VALIDATION)
    with pytest.raises(ValidationError, match="not replayed"):
        await kit.replay_callback(validation.id)
    with pytest.raises(NotFound):
        await kit.replay_callback(987654)
