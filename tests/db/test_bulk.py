"""Rows written by the bulk path read back through the typed tables exactly as written.

The bulk path bypasses SQLAlchemy's processors (COPY on PostgreSQL, driver
``executemany`` elsewhere), so these tests are what keeps its converters honest.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pluggy
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.clock import utc_now
from mpesa_daraja_kit.db.bulk import (
    bulk_insert,
    bulk_plan,
    insert_tuples_one_by_one,
    new_uuid4_hex,
)
from mpesa_daraja_kit.db.models import event_outbox, payment_items
from mpesa_daraja_kit.enums import Direction, EntryKind, PaymentSource, StatementReasonType
from mpesa_daraja_kit.events import (
    EVENT_TYPES,
    Event,
    PaymentRecorded,
    event_from_payload,
    event_to_json,
    event_to_payload,
)
from mpesa_daraja_kit.services.ledger import Ledger
from mpesa_daraja_kit.services.linking import Linker
from mpesa_daraja_kit.services.outbox import EventOutbox, encode_events, queue_encoded
from mpesa_daraja_kit.services.statements import _dashed
from tests.support import kit_settings

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


async def test_utc_and_other_offsets_are_stored_alike(engine: AsyncEngine) -> None:
    utc_row = row(3)
    utc_row["completion_time"] = utc_row["completion_time"].astimezone(UTC)  # type: ignore[attr-defined]
    eat_row = row(5)
    async with engine.begin() as conn:
        await bulk_insert(conn, payment_items, [utc_row, eat_row])
    async with engine.connect() as conn:
        stored = {r.id: r.completion_time for r in (await conn.execute(sa.select(payment_items)))}
    assert stored[utc_row["id"]] == utc_row["completion_time"]
    assert stored[eat_row["id"]] == eat_row["completion_time"]


async def test_a_repeated_key_fails_the_whole_bulk_insert_as_an_integrity_error(
    engine: AsyncEngine,
) -> None:
    first, second = row(1), row(3)
    async with engine.begin() as conn:
        await bulk_insert(conn, payment_items, [first])
    clash = dict(second, transaction_reference=first["transaction_reference"])
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await bulk_insert(conn, payment_items, [second | {"id": uuid.uuid4()}, clash])
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(payment_items)) == 1


async def test_one_by_one_skips_rows_a_key_already_holds(engine: AsyncEngine) -> None:
    first, second, third = row(1), row(3), row(5)
    async with engine.begin() as conn:
        await bulk_insert(conn, payment_items, [first])
        plan = bulk_plan(payment_items, conn.dialect, tuple(first))
        clash = dict(second, transaction_reference=first["transaction_reference"])
        done = await insert_tuples_one_by_one(
            conn,
            plan,
            [plan.encode(clash), plan.encode(third)],
            ("transaction_reference", "entry_key"),
        )
    assert done == [False, True]
    async with engine.connect() as conn:
        ids = set((await conn.execute(sa.select(payment_items.c.id))).scalars())
    assert ids == {first["id"], third["id"]}


def test_new_uuid4_hex_gives_distinct_version_4_uuids() -> None:
    ids = new_uuid4_hex(2000)
    assert len(set(ids)) == 2000
    for value in ids[:50]:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert parsed.hex == value
        assert str(parsed) == _dashed(value)


@pytest.mark.parametrize(
    ("account", "host", "amount"),
    [
        ("pol0099881", "policy-1", Decimal("249999.99")),
        ('PO"L\\1 \u00e9\u6f22\n', None, Decimal("1.00")),
        (None, "h\u00e9", None),
    ],
)
async def test_bulk_recorded_payload_is_the_event_objects_payload(
    engine: AsyncEngine, account: str | None, host: str | None, amount: Decimal | None
) -> None:
    values = row(1)
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    event_id, payment_id = new_uuid4_hex(2)
    pm = pluggy.PluginManager("mpesa")
    outbox = EventOutbox(engine, pm, deliver_inline=False)
    ledger = Ledger(
        settings=kit_settings("http://127.0.0.1:9"),
        outbox=outbox,
        linker=Linker(outbox, clock=utc_now),
        clock=utc_now,
    )
    # What the statement import's bulk path does for one gap.
    (built,) = ledger.recorded_events(
        event_id=_dashed(event_id),
        occurred_at=now,
        payment_id=_dashed(payment_id),
        receipt_number="TJ4C9R5W01",
        source=PaymentSource.STATEMENT,
        amount=amount,
        account_reference=account,
        host_account_id=host,
        transaction_time=values["completion_time"],  # type: ignore[arg-type]
    )
    event = PaymentRecorded(
        event_id=_dashed(event_id),
        occurred_at=now,
        payment_id=_dashed(payment_id),
        receipt_number="TJ4C9R5W01",
        source="STATEMENT",
        amount=amount,  # type: ignore[arg-type]
        account_reference=account,  # type: ignore[arg-type]
        host_account_id=host,
        transaction_time=values["completion_time"],  # type: ignore[arg-type]
        msisdn_hash=None,
    )
    assert built == event
    text = json.dumps(event_to_payload(built))
    assert event_from_payload("mpesa_payment_recorded", json.loads(text)) == event
    async with engine.begin() as conn:
        encoded = encode_events(conn.dialect, [built], now)
        assert encoded[0][2] == "payment_recorded:TJ4C9R5W01"
        await queue_encoded(conn, encoded)
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(event_outbox))).one()
    assert stored.payload == json.loads(text)
    assert stored.id == uuid.UUID(_dashed(event_id))
    assert stored.created_at == now
    assert stored.dedupe_key == "payment_recorded:TJ4C9R5W01"


def _every_event(now: datetime) -> list[Event]:
    """One event of each type, with text that needs escaping and each kind of value."""
    text = 'a "quoted" \\ name\twith\nnon-ASCII \u00e9\u4e2d \U0001f600 and \x01'
    values: dict[str, object] = {
        "str": text,
        "str | None": None,
        "Decimal": Decimal("-1234.50"),
        "datetime": now,
        "datetime | None": datetime(2025, 10, 4, 13, 2, 10, tzinfo=EAT),
        "int": 7,
    }
    built: list[Event] = []
    for cls in EVENT_TYPES.values():
        fields = [f for f in attrs.fields(cls) if f.name not in ("event_id", "occurred_at")]
        built.append(cls(occurred_at=now, **{f.name: values[str(f.type)] for f in fields}))
    return built


def test_event_json_is_what_json_dumps_writes() -> None:
    """The bulk path's payload text is byte for byte ``json.dumps(event_to_payload(e))``."""
    now = datetime(2025, 10, 4, 10, 0, 0, 5, tzinfo=UTC)
    events = _every_event(now)
    # A shared and distinct datetimes alternating (the memo of their text), no amount,
    # an exponent Decimal and empty text.
    events += [
        attrs.evolve(events[1], transaction_time=now + timedelta(seconds=n), amount=None)
        for n in range(3)
    ]
    events.append(attrs.evolve(events[0], amount=Decimal("1E+3"), receipt_number=""))
    for event in events:
        text = event_to_json(event)
        assert text == json.dumps(event_to_payload(event))
        for dialect in (sqlite.dialect(), postgresql.asyncpg.dialect(), mysql.asyncmy.dialect()):
            payload = bulk_plan(event_outbox, dialect, ("payload",)).convert["payload"]
            assert payload(event_to_payload(event)) == text
        assert event_from_payload(event.hook, json.loads(text)) == event
