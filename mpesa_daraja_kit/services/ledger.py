"""The ledger: one receipt, one payment row, one event — whichever source tells of it first.

C2B confirmations, STK success callbacks and statement imports all describe
money received by its M-Pesa receipt (docs/architecture.md#the-ledger). This
is the one place that writes it:

- a new row is inserted with the unique key deciding (``insert_ignore``), so
  racing sources make one row (docs/architecture.md#uniqueness-by-database-constraint);
- a row another source recorded is confirmed (its ``confirmed_by_*_at`` stamp)
  and enriched where it is still empty; its amount and source never change;
- the row's ``PaymentRecorded`` (and ``PaymentUnmatched`` when the host knows
  no account) is queued in the same transaction, built by one function for the
  single-row and the bulk path alike, with each event's own dedupe key;
- the row is linked to its STK request (:class:`~.linking.Linker`).

The statement import writes whole batches: :meth:`Ledger.insert_many`,
:meth:`Ledger.confirm_many` and :meth:`Ledger.link_receipts` are its bulk
counterparts, a fixed number of round trips per batch.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mpesa_daraja_kit.clock import Clock
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.bulk import (
    BulkPlan,
    in_values,
    insert_tuples,
    insert_tuples_one_by_one,
    max_in_values,
    placeholders,
)
from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.db.queries import insert_ignore
from mpesa_daraja_kit.enums import Direction, EntryKind, PaymentSource
from mpesa_daraja_kit.events import Event, PaymentRecorded, PaymentUnmatched
from mpesa_daraja_kit.services.linking import RECEIPT, Linker
from mpesa_daraja_kit.services.outbox import EventOutbox

__all__ = ["Ledger", "LedgerOutcome", "MoneyReceived", "Recorded"]

ITEMS = payment_items
RECEIPT_KEY = ("transaction_reference", "entry_key")
"""The unique key of a payment row: money received has the empty entry key."""

_BY_RECEIPT = sa.select(ITEMS).where(
    ITEMS.c.transaction_reference == sa.bindparam("receipt"), ITEMS.c.entry_key == ""
)
_REQUEST_BY_RECEIPT = sa.select(stk_requests).where(
    stk_requests.c.receipt_number == sa.bindparam("receipt")
)
_PAYMENT_BY_ID = sa.select(ITEMS).where(ITEMS.c.id == sa.bindparam("payment_id"))


class LedgerOutcome(enum.Enum):
    """What recording money received did."""

    NEW = "new"
    """A row was inserted, with its events."""
    CONFIRMED = "confirmed"
    """Another source's row was confirmed (and enriched) by this one."""
    KNOWN = "known"
    """This source had confirmed the row already: nothing changed."""


@attrs.frozen(kw_only=True)
class MoneyReceived:
    """Money received by receipt, as one source tells it."""

    receipt_number: str
    source: PaymentSource
    amount: Decimal
    completion_time: datetime
    confirmed_column: str
    """The source's stamp (``confirmed_by_ipn_at``…), set on a new row and on confirming one."""
    columns: Mapping[str, Any] = attrs.field(factory=dict)
    """A new row's further columns (the ledger fills key, kind, source, amount, stamps)."""
    fill: Mapping[str, Any] = attrs.field(factory=dict)
    """Columns an existing row gains where it has nothing yet (text empty, or NULL)."""
    once: bool = True
    """Confirm only a row this source has not confirmed yet (a repeat changes nothing)."""
    account_reference: str | None = None
    """The account reference the events name."""
    account_known: bool = True
    """False when the host knows no account: a new row's ``PaymentUnmatched`` is queued."""
    payer_name: str | None = attrs.field(default=None, repr=False)
    """Put in the event only when ``Settings.log_pii`` is on."""
    request: Any = None
    """The STK request (row) this money settles: linked by receipt, else the linker searches."""


@attrs.frozen
class Recorded:
    """The outcome, and the payment row when it was inserted or confirmed."""

    outcome: LedgerOutcome
    payment: Any = None


class Ledger:
    """Record money received once per receipt, with its events, and link it."""

    def __init__(
        self, *, settings: Settings, outbox: EventOutbox, linker: Linker, clock: Clock
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._linker = linker
        self._clock = clock

    @property
    def linker(self) -> Linker:
        """The linker this ledger links payments with (a flow completing a paid prompt uses it)."""
        return self._linker

    # -- one receipt --------------------------------------------------------------------

    async def receive(self, conn: AsyncConnection, money: MoneyReceived) -> Recorded:
        """Insert or confirm the row for ``money`` in the caller's transaction, then link it."""
        now = self._clock()
        receipt = money.receipt_number
        inserted = await insert_ignore(
            conn,
            ITEMS,
            {
                **money.columns,
                "id": uuid.uuid4(),
                "transaction_reference": receipt,
                "entry_key": "",
                "entry_kind": EntryKind.RECEIVED,
                "direction": Direction.IN,
                "source": money.source,
                "completion_time": money.completion_time,
                "transaction_status": "Completed",
                "paid_in": money.amount,
                money.confirmed_column: now,
                "created_at": now,
                "updated_at": now,
            },
            list(RECEIPT_KEY),
        )
        if inserted:
            payment = (await conn.execute(_BY_RECEIPT, {"receipt": receipt})).one()
            for event in self._events_of(payment, money):
                await self._outbox.add(conn, event)
            outcome = LedgerOutcome.NEW
        elif await self._confirm(conn, money, now):
            payment = (await conn.execute(_BY_RECEIPT, {"receipt": receipt})).one()
            outcome = LedgerOutcome.CONFIRMED
        else:
            return Recorded(LedgerOutcome.KNOWN)
        if money.request is not None:
            await self._linker.link(conn, payment, money.request, RECEIPT)
        else:
            await self._linker.link_payment(conn, payment)
        return Recorded(outcome, payment)

    async def _confirm(self, conn: AsyncConnection, money: MoneyReceived, now: datetime) -> bool:
        """Confirm the row another source recorded, filling only what it lacks.

        With ``once``, the condition on the source's stamp makes a repeat change
        nothing, decided by the database even under concurrency.
        """
        fill: dict[str, Any] = {}
        for name, new in money.fill.items():
            if new is None or new == "":
                continue
            column = ITEMS.c[name]
            if isinstance(new, str):
                fill[name] = sa.case((sa.func.coalesce(column, "") == "", new), else_=column)
            else:
                fill[name] = sa.func.coalesce(column, new)
        where = [ITEMS.c.transaction_reference == money.receipt_number, ITEMS.c.entry_key == ""]
        if money.once:
            where.append(ITEMS.c[money.confirmed_column].is_(None))
        result = await conn.execute(
            sa.update(ITEMS)
            .where(*where)
            .values(**fill, **{money.confirmed_column: now}, updated_at=now)
        )
        return bool(result.rowcount == 1)

    def _events_of(self, payment: Any, money: MoneyReceived) -> list[Event]:
        request = money.request
        return self.recorded_events(
            occurred_at=self._clock(),
            payment_id=str(payment.id),
            receipt_number=money.receipt_number,
            source=money.source,
            amount=money.amount,
            account_reference=money.account_reference,
            host_account_id=payment.host_account_id,
            transaction_time=payment.completion_time,
            msisdn_hash=payment.msisdn_hash,
            payer_name=money.payer_name,
            stk_push_request_id=str(request.id) if request is not None else None,
            account_known=money.account_known,
        )

    def recorded_events(
        self,
        *,
        occurred_at: datetime,
        payment_id: str,
        receipt_number: str,
        source: PaymentSource,
        amount: Decimal | None,
        account_reference: str | None,
        host_account_id: str | None,
        transaction_time: datetime,
        msisdn_hash: str | None = None,
        payer_name: str | None = None,
        stk_push_request_id: str | None = None,
        account_known: bool = True,
        event_id: str | None = None,
    ) -> list[Event]:
        """Return a new payment's events: ``PaymentRecorded``, and ``PaymentUnmatched`` if due.

        Every path builds them here (the bulk one too, with ``event_id`` from its
        fast id source), so their payloads cannot drift apart.
        """
        # A statement batch builds thousands: no keyword dict, the enum's value read once.
        source_value = source._value_
        recorded = PaymentRecorded(
            event_id=str(uuid.uuid4()) if event_id is None else event_id,
            occurred_at=occurred_at,
            payment_id=payment_id,
            receipt_number=receipt_number,
            source=source_value,
            amount=amount,  # type: ignore[arg-type]  # a statement row may lack it
            account_reference=account_reference,
            host_account_id=host_account_id,
            transaction_time=transaction_time,
            msisdn_hash=msisdn_hash,
            stk_push_request_id=stk_push_request_id,
            payer_name=(payer_name or None) if self._settings.log_pii else None,
        )
        if account_known:
            return [recorded]
        unmatched = PaymentUnmatched(
            occurred_at=occurred_at,
            payment_id=payment_id,
            receipt_number=receipt_number,
            account_reference=account_reference,
            amount=amount if amount is not None else Decimal("0.00"),
            source=source_value,
            msisdn_hash=msisdn_hash,
            transaction_time=transaction_time,
        )
        return [recorded, unmatched]

    # -- whole batches ------------------------------------------------------------------

    async def insert_many(
        self,
        conn: AsyncConnection,
        plan: BulkPlan,
        rows: Sequence[tuple[Any, ...]],
        *,
        one_by_one: bool,
    ) -> list[bool]:
        """Insert encoded payment rows; return which were stored.

        In bulk (one statement per chunk) when nothing can collide; ``one_by_one``
        lets the unique key skip a row stored meanwhile by another writer.
        """
        if one_by_one:
            return await insert_tuples_one_by_one(conn, plan, rows, RECEIPT_KEY)
        await insert_tuples(conn, plan, rows)
        return [True] * len(rows)

    async def confirm_many(
        self, conn: AsyncConnection, ids: Sequence[Any], stamp: Any, column: str
    ) -> int:
        """Stamp rows (driver ids) confirmed by ``column``; return how many were not yet.

        ``stamp`` is the time as the driver takes it. A row already stamped (a
        repeat, or a concurrent writer first) is left alone and not counted.
        """
        dialect = conn.dialect
        confirmed = 0
        for chunk in _chunks(ids, max_in_values(dialect)):
            where, params = in_values(dialect, "id", chunk, start=3)
            result = await conn.exec_driver_sql(
                # Identifiers and markers only; every value is a parameter.
                f"UPDATE {ITEMS.name} SET {ITEMS.c[column].name} = "  # noqa: S608
                f"{placeholders(dialect, 1)}, updated_at = {placeholders(dialect, 1, 2)} "
                f"WHERE {where} AND {ITEMS.c[column].name} IS NULL",
                (stamp, stamp, *params),
            )
            confirmed += result.rowcount
        return confirmed

    async def link_receipts(self, conn: AsyncConnection, payments: Mapping[str, str]) -> None:
        """Link new payments (receipt → payment id) whose receipt an STK request carries.

        One query per batch finds them (e.g. a request settled by query whose
        callback was lost); only those are read and linked.
        """
        for receipt in await _known_to_stk(conn, list(payments)):
            request = (await conn.execute(_REQUEST_BY_RECEIPT, {"receipt": receipt})).one()
            payment_id = uuid.UUID(payments[receipt])
            payment = (await conn.execute(_PAYMENT_BY_ID, {"payment_id": payment_id})).one()
            await self._linker.link(conn, payment, request, RECEIPT)


async def _known_to_stk(conn: AsyncConnection, receipts: Sequence[str]) -> list[str]:
    """Return which of ``receipts`` an STK request carries (one query per batch)."""
    known: list[str] = []
    for chunk in _chunks(receipts, max_in_values(conn.dialect)):
        where, params = in_values(conn.dialect, "receipt_number", chunk)
        result = await conn.exec_driver_sql(
            f"SELECT receipt_number FROM {stk_requests.name} WHERE {where}",  # noqa: S608
            params,
        )
        known.extend(receipt for (receipt,) in result)
    return known


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
