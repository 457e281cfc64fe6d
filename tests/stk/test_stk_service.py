"""The STK Push flow through the kit's Python API, against the simulator, on every database."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from mpesa_daraja_kit.db.models import PaymentReportItem, StkPushRequest
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, PaymentSource, StkPushStatus
from mpesa_daraja_kit.errors import (
    ErrorCode,
    IdempotencyConflict,
    InvalidAccountReference,
    InvalidAmount,
    InvalidPhoneNumber,
    StkDisabled,
    StkPushInProgress,
    StkPushRejected,
    UnknownAccount,
)
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.services.stk import Settlement
from mpesa_daraja_kit.testing import RunningSimulator
from tests.support import HostPlugin, dumps, kit_settings, make_kit, new_phone, stk_callback_body


def callback(checkout_request_id: str, result_code: int = 0, **kwargs: object) -> IncomingCallback:
    return IncomingCallback(
        kind=CallbackKind.STK_CALLBACK,
        body=dumps(stk_callback_body(checkout_request_id, result_code, **kwargs)),  # type: ignore[arg-type]
        content_type="application/json",
        source_address="127.0.0.1",
    )


async def count(kit: MpesaKit, table: sa.Table) -> int:
    async with kit.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_initiate_stores_pending_with_darajas_ids(
    kit: MpesaKit, simulator: RunningSimulator
) -> None:
    phone = new_phone()
    result = await kit.stk.initiate(
        "0" + phone[3:], "500", " POL0012345 ", "Premium", initiated_by="agent-7"
    )
    view = result.request
    assert result.created
    assert view.status is StkPushStatus.PENDING
    assert view.phone_number == phone
    assert view.amount == Decimal("500.00")
    assert view.account_reference == "POL0012345"
    assert view.checkout_request_id and view.checkout_request_id.startswith("ws_CO_")
    assert view.merchant_request_id  # Daraja's own, not the kit's id
    assert view.merchant_request_id != str(view.id)
    assert view.initiated_by == "agent-7"
    prompt = simulator.simulator.transaction(view.checkout_request_id)
    assert prompt is not None
    assert await kit.stk.get(view.id) == view
    assert await kit.stk.get(view.checkout_request_id) == view


async def test_success_callback_completes_records_and_links_once(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    view = (await kit.stk.initiate(new_phone(), 1, "POL0012345")).request
    assert view.checkout_request_id
    outcome = await kit.stk.handle_callback(
        callback(view.checkout_request_id, receipt="UAB1CD2EF3")
    )
    assert outcome is CallbackOutcome.APPLIED
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert done.result_code == "0"
    assert done.receipt_number == "UAB1CD2EF3"
    assert done.linked_transaction_id == "UAB1CD2EF3"
    assert done.completed_at is not None
    async with kit.engine.connect() as conn:
        payment = (await conn.execute(sa.select(PaymentReportItem.__table__))).one()
    assert payment.source is PaymentSource.STK_CALLBACK
    assert payment.paid_in == Decimal("1.00")
    assert payment.mpesa_stk_push_request_id == view.id
    assert payment.account_number == "POL0012345"
    assert payment.host_account_id == "policy-1"
    assert [e.status for e in plugin.of("mpesa_stk_push_updated")] == ["COMPLETED"]
    assert [e.receipt_number for e in plugin.of("mpesa_payment_recorded")] == ["UAB1CD2EF3"]
    assert [e.method for e in plugin.of("mpesa_payment_linked")] == ["receipt"]


async def test_twenty_concurrent_duplicate_callbacks_change_once(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    view = (await kit.stk.initiate(new_phone(), 1, "POL0012345")).request
    assert view.checkout_request_id
    outcomes = await asyncio.gather(
        *(
            kit.stk.handle_callback(callback(view.checkout_request_id, receipt="UAB1CD2EF4"))
            for _ in range(20)
        )
    )
    assert sorted(outcomes).count(CallbackOutcome.APPLIED) == 1
    assert outcomes.count(CallbackOutcome.DUPLICATE) == 19
    assert len(plugin.of("mpesa_stk_push_updated")) == 1
    assert len(plugin.of("mpesa_payment_recorded")) == 1
    assert await count(kit, PaymentReportItem.__table__) == 1
    logged = await kit.callbacks.list(kind=CallbackKind.STK_CALLBACK)
    assert len(logged) == 20  # every body kept, even the duplicates


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (1032, StkPushStatus.CANCELLED),
        (1037, StkPushStatus.EXPIRED),
        (1, StkPushStatus.FAILED),
        (2001, StkPushStatus.FAILED),
    ],
)
async def test_failure_callbacks_map_result_codes(
    kit: MpesaKit, plugin: HostPlugin, code: int, status: StkPushStatus
) -> None:
    view = (await kit.stk.initiate(new_phone(), 1, "POL0012345")).request
    assert view.checkout_request_id
    await kit.stk.handle_callback(callback(view.checkout_request_id, code))
    done = await kit.stk.get(view.id)
    assert done.status is status
    assert done.result_code == str(code)
    assert done.receipt_number is None
    assert await count(kit, PaymentReportItem.__table__) == 0
    assert [e.status for e in plugin.of("mpesa_stk_push_updated")] == [status.value]


async def test_failed_callback_after_completed_does_not_downgrade(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    view = (await kit.stk.initiate(new_phone(), 1, "POL0012345")).request
    assert view.checkout_request_id
    await kit.stk.handle_callback(callback(view.checkout_request_id, receipt="UAB1CD2EF5"))
    outcome = await kit.stk.handle_callback(callback(view.checkout_request_id, 1032))
    assert outcome is CallbackOutcome.DUPLICATE
    assert (await kit.stk.get(view.id)).status is StkPushStatus.COMPLETED
    assert len(plugin.of("mpesa_stk_push_updated")) == 1


async def test_late_success_after_expired_wins(kit: MpesaKit, plugin: HostPlugin) -> None:
    view = (await kit.stk.initiate(new_phone(), 1, "POL0012345")).request
    assert view.checkout_request_id
    await kit.stk.settle(
        view.id,
        Settlement(status=StkPushStatus.EXPIRED, result_code="1037", result_desc="timed out"),
    )
    outcome = await kit.stk.handle_callback(
        callback(view.checkout_request_id, receipt="UAB1CD2EF6")
    )
    assert outcome is CallbackOutcome.APPLIED
    done = await kit.stk.get(view.id)
    assert done.status is StkPushStatus.COMPLETED
    assert done.receipt_number == "UAB1CD2EF6"
    assert [(e.previous_status, e.status) for e in plugin.of("mpesa_stk_push_updated")] == [
        ("PENDING", "EXPIRED"),
        ("EXPIRED", "COMPLETED"),
    ]


async def test_callback_for_an_unknown_request_waits_and_is_applied_once_stored(
    kit: MpesaKit, plugin: HostPlugin, simulator: RunningSimulator
) -> None:
    # The simulator names checkout ids predictably enough that we cannot guess the next one,
    # so store the early callback under the id the request will get, then initiate.
    early = await kit.stk.handle_callback(callback("ws_CO_EARLY", receipt="UAB1CD2EF7"))
    assert early is CallbackOutcome.WAITING
    waiting = await kit.callbacks.list(outcomes=[CallbackOutcome.WAITING])
    assert [w.reference for w in waiting] == ["ws_CO_EARLY"]
    view = (await kit.stk.initiate(new_phone(), 1, "POL0012345")).request
    async with kit.engine.begin() as conn:  # as if Daraja had answered with ws_CO_EARLY
        await conn.execute(
            sa.update(StkPushRequest.__table__)
            .where(StkPushRequest.__table__.c.id == view.id)
            .values(checkout_request_id="ws_CO_EARLY")
        )
    await kit.stk._apply_waiting_callbacks("ws_CO_EARLY")
    assert (await kit.stk.get(view.id)).status is StkPushStatus.COMPLETED
    assert (await kit.callbacks.get(waiting[0].id)).outcome is CallbackOutcome.APPLIED  # type: ignore[union-attr]


async def test_unparseable_callback_is_kept_and_answered(kit: MpesaKit) -> None:
    bad = IncomingCallback(kind=CallbackKind.STK_CALLBACK, body=b"<html>nope</html>")
    assert await kit.stk.handle_callback(bad) is CallbackOutcome.FAILED
    (stored,) = await kit.callbacks.list(outcomes=[CallbackOutcome.FAILED])
    assert stored.raw_body == b"<html>nope</html>"
    assert stored.error_code == ErrorCode.PAYLOAD_NOT_JSON or stored.error_code


async def test_idempotency_key_returns_the_same_request_and_one_prompt(
    kit: MpesaKit, simulator: RunningSimulator
) -> None:
    phone = new_phone()
    before = len(simulator.simulator.transactions())
    first = await kit.stk.initiate(phone, 100, "POL0012345", idempotency_key="k-1")
    again = await kit.stk.initiate(phone, "100.00", "pol0012345", idempotency_key="k-1")
    assert first.created and not again.created
    assert again.request.id == first.request.id
    assert len(simulator.simulator.transactions()) == before + 1
    with pytest.raises(IdempotencyConflict):
        await kit.stk.initiate(phone, 200, "POL0012345", idempotency_key="k-1")


async def test_concurrent_initiations_with_one_key_make_one_request(kit: MpesaKit) -> None:
    phone = new_phone()
    results = await asyncio.gather(
        *(kit.stk.initiate(phone, 100, "POL0012345", idempotency_key="k-race") for _ in range(5)),
        return_exceptions=True,
    )
    ids = {r.request.id for r in results if not isinstance(r, BaseException)}
    assert len(ids) == 1
    assert await count(kit, StkPushRequest.__table__) == 1


async def test_second_prompt_to_the_same_phone_is_refused(kit: MpesaKit) -> None:
    phone = new_phone()
    await kit.stk.initiate(phone, 100, "POL0012345")
    with pytest.raises(StkPushInProgress) as info:
        await kit.stk.initiate(phone, 100, "POL0099881")
    assert phone not in str(info.value.to_dict())  # no raw phone numbers in errors


@pytest.mark.parametrize(
    ("phone", "amount", "ref", "error"),
    [
        ("0812345678", 100, "POL0012345", InvalidPhoneNumber),
        ("0708374149", "1.50", "POL0012345", InvalidAmount),
        ("0708374149", 0, "POL0012345", InvalidAmount),
        ("0708374149", 250001, "POL0012345", InvalidAmount),
        ("0708374149", 100, "POL00123456789", InvalidAccountReference),
    ],
)
async def test_invalid_input_is_refused_before_anything_is_stored(
    kit: MpesaKit, phone: str, amount: object, ref: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await kit.stk.initiate(phone, amount, ref)  # type: ignore[arg-type]
    assert await count(kit, StkPushRequest.__table__) == 0


async def test_unknown_account_is_refused(kit: MpesaKit) -> None:
    with pytest.raises(UnknownAccount, match="POL0000000"):
        await kit.stk.initiate(new_phone(), 100, "POL0000000")
    assert await count(kit, StkPushRequest.__table__) == 0


async def test_stk_disabled(engine: object, simulator: RunningSimulator) -> None:
    kit = make_kit(engine, kit_settings(simulator.base_url, stk_enabled=False), HostPlugin())  # type: ignore[arg-type]
    with pytest.raises(StkDisabled):
        await kit.stk.initiate(new_phone(), 100, "POL0012345")
    await kit.client.aclose()


async def test_daraja_refusal_is_stored_failed(engine: object, simulator: RunningSimulator) -> None:
    plugin = HostPlugin()
    kit = make_kit(engine, kit_settings(simulator.base_url, consumer_secret="wrong"), plugin)  # type: ignore[arg-type]
    try:
        with pytest.raises(StkPushRejected) as info:
            await kit.stk.initiate(new_phone(), 100, "POL0012345")
    finally:
        await kit.client.aclose()
    assert info.value.details["classification"] == "auth"
    (request,) = await kit.stk.list_pending() or [None]  # type: ignore[misc]
    assert request is None  # nothing left pending
    async with kit.engine.connect() as conn:
        row = (await conn.execute(sa.select(StkPushRequest.__table__))).one()
    assert row.status is StkPushStatus.FAILED
    assert row.result_code
    assert [e.status for e in plugin.of("mpesa_stk_push_updated")] == ["FAILED"]


async def test_daraja_unreachable_means_not_sent_and_failed(engine: object) -> None:
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), HostPlugin())  # type: ignore[arg-type]
    try:
        with pytest.raises(Exception) as info:
            await kit.stk.initiate(new_phone(), 100, "POL0012345")
    finally:
        await kit.client.aclose()
    assert getattr(info.value, "code", None) in (
        ErrorCode.DARAJA_CONNECTION,
        ErrorCode.DARAJA_TIMEOUT,
    )
    async with kit.engine.connect() as conn:
        row = (await conn.execute(sa.select(StkPushRequest.__table__))).one()
    assert row.status is StkPushStatus.FAILED


async def test_timeout_after_sending_leaves_pending_and_never_resends(engine: object) -> None:
    # The one fault the simulator cannot produce on demand: Daraja swallowing the request.
    sent: list[httpx.Request] = []

    def daraja(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/oauth"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": "3599"})
        sent.append(request)
        raise httpx.ReadTimeout("no answer", request=request)

    kit = make_kit(
        engine,
        kit_settings("http://daraja.test"),
        HostPlugin(),  # type: ignore[arg-type]
        daraja_transport=httpx.MockTransport(daraja),
    )
    try:
        result = await kit.stk.initiate(new_phone(), 100, "POL0012345")
    finally:
        await kit.client.aclose()
    assert len(sent) == 1
    assert result.request.status is StkPushStatus.PENDING
    assert result.request.outcome_unknown
    assert result.request.checkout_request_id is None


@pytest.mark.parametrize(
    "token_answer",
    [
        httpx.ReadTimeout("token endpoint silent"),
        httpx.Response(200, text="<html>maintenance</html>"),
    ],
)
async def test_token_failure_means_the_push_was_never_sent(
    engine: object, token_answer: object
) -> None:
    pushes: list[httpx.Request] = []

    def daraja(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/oauth"):
            if isinstance(token_answer, Exception):
                raise token_answer
            return token_answer  # type: ignore[return-value]
        pushes.append(request)
        return httpx.Response(500)

    from mpesa_daraja_kit.client import RetryPolicy

    kit = make_kit(
        engine,
        kit_settings("http://daraja.test"),
        HostPlugin(),  # type: ignore[arg-type]
        daraja_transport=httpx.MockTransport(daraja),
    )
    kit.client.retry = RetryPolicy.no_wait()
    try:
        with pytest.raises(Exception) as info:
            await kit.stk.initiate(new_phone(), 100, "POL0012345")
    finally:
        await kit.client.aclose()
    assert pushes == []
    assert getattr(info.value, "operation", None) == "token"
    async with kit.engine.connect() as conn:
        row = (await conn.execute(sa.select(StkPushRequest.__table__))).one()
    assert row.status is StkPushStatus.FAILED
    assert not row.outcome_unknown


async def test_views_do_not_show_phone_numbers_in_their_repr(kit: MpesaKit) -> None:
    phone = new_phone()
    view = (await kit.stk.initiate(phone, 100, "POL0012345")).request
    assert phone not in repr(view)
    assert view.phone_number == phone
