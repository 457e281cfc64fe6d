"""Text the databases refuse (NUL, lone surrogates) never costs a payment or a 500.

Strings from Safaricom are cleaned once, where the wire JSON is structured
(``mpesa_daraja_kit.text.storable_text``): NUL removed, a lone surrogate
replaced with U+FFFD. A receipt that held either is refused as not a receipt.
The raw body in the callback log stays byte for byte as received.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import callback_log, payment_items
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.statements import StatementRow, open_statement
from mpesa_daraja_kit.text import storable_text, unstorable_problem
from tests.c2b.conftest import confirmation_body, new_receipt
from tests.support import HostPlugin, dumps, kit_settings, make_kit, stk_callback_body

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


@pytest.fixture
async def kit(engine: AsyncEngine) -> AsyncIterator[MpesaKit]:
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), HostPlugin())
    try:
        yield kit
    finally:
        await kit.client.aclose()


@pytest.fixture
async def http(kit: MpesaKit) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://kit", headers={"Content-Type": "application/json"}
    ) as client:
        yield client


def json_with(body: dict[str, object], escaped: str, *fields: str) -> bytes:
    """Return ``body`` as JSON with each of ``fields`` ending in a raw JSON escape."""
    marker = "@@MARK@@"
    body = {**body, **{field: f"{body[field]}{marker}" for field in fields}}
    return dumps(body).replace(marker.encode(), escaped.encode())


async def logged(kit: MpesaKit, kind: CallbackKind) -> sa.Row[tuple[object, ...]]:
    async with kit.engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(callback_log).where(callback_log.c.kind == kind))
        ).all()
    (row,) = rows
    return row


async def payment_rows(kit: MpesaKit) -> list[sa.Row[tuple[object, ...]]]:
    async with kit.engine.connect() as conn:
        return list((await conn.execute(sa.select(payment_items))).all())


@pytest.mark.parametrize(
    ("escaped", "stored"),
    [("\\u0000", "JOHN"), ("\\ud800", "JOHN\ufffd")],
    ids=["nul", "surrogate"],
)
async def test_a_name_with_hostile_text_is_recorded_cleaned(
    kit: MpesaKit, http: httpx.AsyncClient, escaped: str, stored: str
) -> None:
    body = confirmation_body()
    raw = json_with(body, escaped, "FirstName", "LastName")
    response = await http.post("/confirmation", content=raw)
    assert response.status_code == 200, response.text
    assert response.json() == ACCEPTED
    (row,) = await payment_rows(kit)
    assert row.transaction_reference == body["TransID"]
    assert row.first_name == stored
    assert row.last_name == stored.replace("JOHN", "DOE")
    log = await logged(kit, CallbackKind.C2B_CONFIRMATION)
    assert log.outcome is CallbackOutcome.APPLIED, log.error_message
    assert bytes(log.raw_body) == raw


@pytest.mark.parametrize("escaped", ["\\u0000", "\\udfff"], ids=["nul", "surrogate"])
async def test_a_receipt_with_hostile_text_is_refused_not_a_500(
    kit: MpesaKit, http: httpx.AsyncClient, escaped: str
) -> None:
    raw = json_with(confirmation_body(), escaped, "TransID")
    response = await http.post("/confirmation", content=raw)
    assert response.status_code == 200, response.text
    assert response.json() == ACCEPTED
    assert await payment_rows(kit) == []
    log = await logged(kit, CallbackKind.C2B_CONFIRMATION)
    assert log.outcome is CallbackOutcome.FAILED
    assert log.error_code == "payload_invalid"  # the code of every unreadable field
    assert "TransID" in log.error_message
    assert bytes(log.raw_body) == raw


@pytest.mark.parametrize("field", ["TransID", "FirstName", "BillRefNumber"])
async def test_a_validation_with_a_nul_is_answered(
    kit: MpesaKit, http: httpx.AsyncClient, field: str
) -> None:
    raw = json_with(confirmation_body(), "\\u0000", field)
    response = await http.post("/validation", content=raw)
    assert response.status_code == 200, response.text
    assert response.json()["ResultCode"] in ("0", "C2B00012", 0)
    log = await logged(kit, CallbackKind.C2B_VALIDATION)
    assert bytes(log.raw_body) == raw
    assert log.outcome in (CallbackOutcome.APPLIED, CallbackOutcome.FAILED)


async def test_an_stk_callback_with_hostile_text_is_answered(
    kit: MpesaKit, http: httpx.AsyncClient
) -> None:
    body = stk_callback_body("ws_CO_hostile_1", receipt=new_receipt())
    body["Body"]["stkCallback"]["ResultDesc"] = "processed@@MARK@@"
    raw = dumps(body).replace(b"@@MARK@@", b"\\u0000\\ud800")
    response = await http.post("/stk-push/callback", content=raw)
    assert response.status_code == 200, response.text
    log = await logged(kit, CallbackKind.STK_CALLBACK)
    assert bytes(log.raw_body) == raw
    assert log.error_message is None or "\x00" not in log.error_message


def test_statement_text_is_cleaned_the_same_way() -> None:
    from tests.statements.generator import StatementSpec, write_family_a_csv

    buffer = io.BytesIO()
    write_family_a_csv(StatementSpec(rows=3), buffer)
    lines = buffer.getvalue().split(b"\n")
    header = next(i for i, line in enumerate(lines) if line.startswith(b"Receipt No"))
    cells = lines[header + 1].split(b",")
    cells[3] = cells[3] + b"\x00"  # Details
    lines[header + 1] = b",".join(cells)
    # Far enough from the top that the file is not sniffed as binary.
    data = b"\n".join(lines[: header + 1]) + b"\n" * 70_000 + b"\n".join(lines[header + 1 :])
    with open_statement(data) as statement:
        rows = [row for row in statement.rows() if isinstance(row, StatementRow)]
    assert len(rows) == 3
    assert all("\x00" not in row.details for row in rows)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("JOHN", "JOHN"),
        ("JO\x00HN\x00", "JOHN"),
        ("Wanjirũ", "Wanjirũ"),
        ("A\ud800B", "A\ufffdB"),
        ("\udfff\x00é", "\ufffdé"),
        ("😀", "😀"),
    ],
)
def test_storable_text(raw: str, clean: str) -> None:
    assert storable_text(raw) == clean
    assert (unstorable_problem(raw) is None) == (raw == clean)


async def test_an_stk_receipt_with_a_nul_is_refused_not_a_500(
    kit: MpesaKit, http: httpx.AsyncClient
) -> None:
    body = stk_callback_body("ws_CO_hostile_2", receipt="SGA@@MARK@@")
    raw = dumps(body).replace(b"@@MARK@@", b"7RT61\\u0000SV")
    response = await http.post("/stk-push/callback", content=raw)
    assert response.status_code == 200, response.text
    log = await logged(kit, CallbackKind.STK_CALLBACK)
    assert bytes(log.raw_body) == raw
    assert log.outcome is CallbackOutcome.FAILED
    assert "MpesaReceiptNumber" in log.error_message


async def test_a_confirmation_left_failed_by_a_nul_replays_to_a_payment(kit: MpesaKit) -> None:
    # What the code before the cleaning left behind: the raw body stored, FAILED.
    body = confirmation_body()
    raw = json_with(body, "\\u0000", "FirstName")
    log_id = await kit.callbacks.store(
        IncomingCallback(
            kind=CallbackKind.C2B_CONFIRMATION, body=raw, content_type="application/json"
        )
    )
    await kit.callbacks.mark(log_id, CallbackOutcome.FAILED, error_code="callback_failed")
    result = await kit.replay_callback(log_id)
    assert result.outcome is CallbackOutcome.APPLIED, result.error_message
    (row,) = await payment_rows(kit)
    assert (row.transaction_reference, row.first_name) == (body["TransID"], "JOHN")
