"""The data model keeps money exact, instants aware, and receipts unique — on every database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import PaymentReportItem, StkPushRequest
from mpesa_daraja_kit.enums import (
    Direction,
    EntryKind,
    PaymentSource,
    StatementReasonType,
    StkPushStatus,
    entry_key,
)

T0 = datetime(2024, 7, 10, 7, 16, 3, 123456, tzinfo=UTC)


def payment(receipt: str = "SGA7RT61SV", **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "transaction_reference": receipt,
        "entry_key": "",
        "entry_kind": EntryKind.RECEIVED,
        "direction": Direction.IN,
        "source": PaymentSource.IPN,
        "completion_time": T0,
        "paid_in": Decimal("1.00"),
        "reason_type": StatementReasonType.PayBill_STK,
        "transaction_status": "Completed",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return values


async def insert(engine: AsyncEngine, **values: object) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(PaymentReportItem).values(**values))


async def test_decimal_amounts_and_aware_times_round_trip(engine: AsyncEngine) -> None:
    eat = timezone(timedelta(hours=3))
    local = datetime(2025, 10, 4, 13, 2, 10, 987654, tzinfo=eat)
    await insert(
        engine,
        **payment(
            paid_in=Decimal("249999.99"), balance=Decimal("1883304.50"), completion_time=local
        ),
    )
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(PaymentReportItem))).one()
    assert row.paid_in == Decimal("249999.99")
    assert isinstance(row.paid_in, Decimal)
    assert str(row.balance) == "1883304.50"
    assert row.completion_time == local  # the same instant
    assert row.completion_time.tzinfo is not None
    assert row.completion_time.utcoffset() == timedelta(0)
    assert row.completion_time.microsecond == 987654
    assert row.source is PaymentSource.IPN
    assert row.reason_type is StatementReasonType.PayBill_STK
    assert row.entry_kind is EntryKind.RECEIVED


async def test_enum_values_store_as_their_values(engine: AsyncEngine) -> None:
    await insert(engine, **payment(reason_type=StatementReasonType.PayBill_Fuliza_Online))
    async with engine.connect() as conn:
        raw = (
            await conn.execute(
                sa.text("SELECT reason_type, source FROM mpesa_payment_report_items")
            )
        ).one()
    assert tuple(raw) == ("PayBill_Fuliza_Online", "IPN")


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        await insert(engine, **payment(completion_time=datetime(2024, 1, 1)))


async def test_second_row_for_the_same_receipt_is_refused(engine: AsyncEngine) -> None:
    await insert(engine, **payment())
    with pytest.raises(IntegrityError):
        await insert(engine, **payment(source=PaymentSource.STATEMENT))
    async with engine.connect() as conn:
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(PaymentReportItem))
        ).scalar()
    assert count == 1


async def test_charge_twin_with_the_payments_receipt_is_accepted(engine: AsyncEngine) -> None:
    await insert(engine, **payment(source=PaymentSource.STATEMENT))
    charge_key = entry_key(EntryKind.CHARGE, Direction.OUT, "Pay Utility")
    await insert(
        engine,
        **payment(
            source=PaymentSource.STATEMENT,
            entry_key=charge_key,
            entry_kind=EntryKind.CHARGE,
            direction=Direction.OUT,
            paid_in=None,
            withdrawn=Decimal("-20.00"),
        ),
    )
    # ...but the same charge twice is not.
    with pytest.raises(IntegrityError):
        await insert(
            engine,
            **payment(entry_key=charge_key, entry_kind=EntryKind.CHARGE, direction=Direction.OUT),
        )


def stk_request(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "phone_number": "254708374149",
        "phone_hash": "bbff37cea44ac0b2d964ee0dfb8d2df8513dc7ba1b36129a929fc3fbd6dd4af4",
        "amount": Decimal("1.00"),
        "account_reference": "POL0012345",
        "account_key": "POL0012345",
        "status": StkPushStatus.PENDING,
        "initiated_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("column", ["checkout_request_id", "receipt_number", "idempotency_key"])
async def test_stk_request_identifiers_are_unique(engine: AsyncEngine, column: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(StkPushRequest).values(**stk_request(**{column: "X-1"})))
        # NULLs do not collide: many requests have no receipt yet.
        await conn.execute(sa.insert(StkPushRequest).values(**stk_request()))
        await conn.execute(sa.insert(StkPushRequest).values(**stk_request()))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(sa.insert(StkPushRequest).values(**stk_request(**{column: "X-1"})))


async def test_a_request_links_to_at_most_one_payment(engine: AsyncEngine) -> None:
    request = stk_request()
    async with engine.begin() as conn:
        await conn.execute(sa.insert(StkPushRequest).values(**request))
    await insert(engine, **payment("RCPT000001", mpesa_stk_push_request_id=request["id"]))
    with pytest.raises(IntegrityError):
        await insert(engine, **payment("RCPT000002", mpesa_stk_push_request_id=request["id"]))
