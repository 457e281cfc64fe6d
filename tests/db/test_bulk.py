"""Rows written by the bulk path read back through the typed tables exactly as written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.bulk import bulk_insert
from mpesa_daraja_kit.db.models import event_outbox, payment_items
from mpesa_daraja_kit.enums import Direction, EntryKind, PaymentSource, StatementReasonType
from mpesa_daraja_kit.events import PaymentRecorded, event_from_payload
from mpesa_daraja_kit.services.statements import _recorded_event

EAT = timezone(timedelta(hours=3))


def row(n: int) -> dict[str, object]:
    when = datetime(2025, 10, 4, 13, 2, 10, 123456, tzinfo=EAT) + timedelta(seconds=n)
    return {
        "id": uuid.uuid4(),
        "transaction_reference": f"TJ4C9R5W{n:02d}",
        "entry_key": "" if n % 2 else "OUT|CHARGE|pay utility",
        "entry_kind": EntryKind.RECEIVED if n % 2 else EntryKind.CHARGE,
        "direction": Direction.IN if n % 2 else Direction.OUT,
        "source": PaymentSource.STATEMENT,
        "completion_time": when,
        "initiation_time": None,
        "paid_in": Decimal("249999.99") if n % 2 else None,
        "withdrawn": None if n % 2 else Decimal("-20.00"),
        "balance": Decimal("1883304.50"),
        "balance_confirmed": bool(n % 2),
        "reason_type": StatementReasonType.PayBill_Fuliza_STK,
        "account_number": "pol0099881",
        "transaction_status": "Completed",
        "created_at": when,
        "updated_at": when,
    }


async def test_bulk_rows_read_back_through_the_typed_table(engine: AsyncEngine) -> None:
    rows = [row(n) for n in range(4)]
    async with engine.begin() as conn:
        await bulk_insert(conn, payment_items, rows)
    async with engine.connect() as conn:
        stored = {r.id: r for r in (await conn.execute(sa.select(payment_items))).all()}
    assert len(stored) == 4
    for expected in rows:
        got = stored[expected["id"]]  # type: ignore[index]
        for name, value in expected.items():
            assert getattr(got, name) == value, name
        assert got.completion_time.tzinfo is not None


async def test_fast_recorded_event_equals_the_event_objects_payload(engine: AsyncEngine) -> None:
    values = row(1)
    values["host_account_id"] = "policy-1"
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    outbox_row = _recorded_event(values, now.isoformat(), now, "payment_recorded:X")
    event = event_from_payload("mpesa_payment_recorded", outbox_row["payload"])
    assert event == PaymentRecorded(
        event_id=outbox_row["payload"]["event_id"],
        occurred_at=now,
        payment_id=str(values["id"]),
        receipt_number="TJ4C9R5W01",
        source="STATEMENT",
        amount=Decimal("249999.99"),
        account_reference="pol0099881",
        host_account_id="policy-1",
        transaction_time=values["completion_time"],  # type: ignore[arg-type]
        msisdn_hash=None,
    )
    async with engine.begin() as conn:
        await bulk_insert(conn, event_outbox, [outbox_row])
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(event_outbox))).one()
    assert stored.payload == outbox_row["payload"]
    assert stored.id == outbox_row["id"]
