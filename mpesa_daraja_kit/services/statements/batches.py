"""Statement batches: one look-up and one bulk write per batch, through the ledger."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs
import pluggy
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.bulk import bulk_plan, in_values, max_in_values, new_uuid4_hex
from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.enums import EntryKind, PaymentSource
from mpesa_daraja_kit.events import Event
from mpesa_daraja_kit.plugins import has_host_implementation
from mpesa_daraja_kit.reference import account_key
from mpesa_daraja_kit.services.accounts import lookup_account
from mpesa_daraja_kit.services.ledger import Ledger
from mpesa_daraja_kit.services.outbox import EventOutbox, encode_events, queue_encoded
from mpesa_daraja_kit.services.statements.rows import (
    _UNKNOWN,
    GAP_COLUMNS,
    _account_key,
    _chunks,
    _clip,
    _dashed,
    _gap_encoder,
    _Tally,
    log,
)
from mpesa_daraja_kit.statements import StatementPreamble, StatementRow

BATCH_SIZE = 20_000
"""Rows read, looked up and written together. Larger batches mean fewer commits and
look-ups (5 000 rows: 20 % slower); each holds about 3 KB a row while it is written."""

MAX_CACHED_ACCOUNTS = 20_000
"""Account answers remembered during one upload (bounded: memory stays flat)."""


@attrs.define
class _BatchOutcome:
    matched: int = 0
    duplicates: int = 0
    gaps: int = 0
    gap_kinds: dict[str, int] = attrs.field(factory=dict)


@attrs.define
class _BatchPlan:
    """A batch looked up and encoded, ready to write.

    Parallel lists rather than a tuple per gap: fewer long-lived objects for the
    garbage collector to walk, and the driver tuples in ``encoded`` hold only plain
    values, which it stops tracking.
    """

    accounts: dict[str, tuple[str | None, bool]]
    now: datetime
    duplicates: int = 0
    confirm: list[Any] = attrs.field(factory=list)
    gaps: list[StatementRow] = attrs.field(factory=list)
    gap_ids: list[str] = attrs.field(factory=list)
    gap_hosts: list[str | None] = attrs.field(factory=list)
    encoded: list[tuple[Any, ...]] = attrs.field(factory=list)
    events: list[tuple[Any, ...]] = attrs.field(factory=list)


class StatementBatches:
    """Look statement batches up and write them through the ledger, one transaction each."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        pm: pluggy.PluginManager,
        outbox: EventOutbox,
        ledger: Ledger,
        clock: Clock = utc_now,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._pm = pm
        self._outbox = outbox
        self._ledger = ledger
        self._clock = clock
        self.batch_size = batch_size

    async def _import_batch(
        self,
        upload_id: uuid.UUID,
        rows: list[StatementRow],
        accounts: dict[str, tuple[str | None, bool]],
        preamble: StatementPreamble,
        tally: _Tally,
    ) -> bool:
        """Write one batch; False when its rows had to be reported failed."""
        last_error: Exception | None = None
        for attempt in (1, 2):
            try:
                outcome = await self._write_batch(
                    upload_id, rows, preamble, accounts, careful=False
                )
            except IntegrityError:
                # Something stored one of these rows after our look-up (a racing IPN, a
                # concurrent upload): redo the batch row by row, letting the keys decide.
                try:
                    outcome = await self._write_batch(
                        upload_id, rows, preamble, accounts, careful=True
                    )
                except DBAPIError as exc:
                    last_error = exc
                    continue
            except DBAPIError as exc:
                last_error = exc
                log.warning(
                    "statement batch failed; %s",
                    "retrying once" if attempt == 1 else "reporting its rows as failed",
                    extra={"upload_id": str(upload_id), "error": type(exc).__name__},
                )
                continue
            tally.matched += outcome.matched
            tally.duplicates += outcome.duplicates
            tally.gaps += outcome.gaps
            for kind, n in outcome.gap_kinds.items():
                tally.bump(kind, n)
            return True
        reason = f"database error: {type(last_error).__name__}; the row was not imported"
        for row in rows:
            tally.fail(row.row_number, reason)
        return False

    async def _lookup_accounts(
        self, rows: Sequence[StatementRow], seen: dict[str, tuple[str | None, bool]]
    ) -> dict[str, tuple[str | None, bool]]:
        """Ask the host about each new account reference once per import (``seen``: its answers)."""
        if not has_host_implementation(self._pm, "mpesa_lookup_account"):
            return {}
        if len(seen) >= MAX_CACHED_ACCOUNTS:
            seen.clear()  # between batches, never while one is being built
        for row in rows:
            if row.kind is not EntryKind.RECEIVED or not row.account_number:
                continue
            key = account_key(row.account_number)
            if key and key not in seen:
                try:
                    account = await lookup_account(self._pm, row.account_number)
                except Exception:
                    # Hooks never decide whether a payment is stored
                    # (docs/architecture.md#hooks-never-decide-storage).
                    log.exception("mpesa_lookup_account failed; the payment is stored untagged")
                    account = None
                seen[key] = (account.account_id, True) if account is not None else (None, False)
        return seen

    async def _write_batch(
        self,
        upload_id: uuid.UUID,
        rows: list[StatementRow],
        preamble: StatementPreamble,
        accounts: dict[str, tuple[str | None, bool]],
        *,
        careful: bool,
    ) -> _BatchOutcome:
        """Look one batch up and write it, in one transaction; its events follow the commit."""
        async with self._outbox.transaction() as conn:
            planned = await self._plan_batch(conn, upload_id, rows, preamble, accounts)
            return await self._apply(conn, planned, careful=careful)

    async def _plan_batch(
        self,
        conn: AsyncConnection,
        upload_id: uuid.UUID,
        rows: list[StatementRow],
        preamble: StatementPreamble,
        accounts: dict[str, tuple[str | None, bool]],
    ) -> _BatchPlan:
        """Look the batch up (one query per 5 000 receipts) and encode what is new."""
        now = self._clock()
        short_code = _clip(preamble.short_code or self._settings.business_short_code, 20)
        existing = await _recorded(conn, list({row.receipt for row in rows}))
        plan = bulk_plan(payment_items, conn.dialect, GAP_COLUMNS)
        encode = _gap_encoder(plan, upload_id, short_code, now)
        planned = _BatchPlan(accounts, now=now)
        confirm, gaps, gap_ids, hosts, encoded = (
            planned.confirm,
            planned.gaps,
            planned.gap_ids,
            planned.gap_hosts,
            planned.encoded,
        )
        for row, payment_id in zip(rows, new_uuid4_hex(len(rows)), strict=True):
            entry = row.entry_key
            item = existing.get((row.receipt, entry))
            if item is None:
                key = _account_key(row.account_number) if row.account_number else None
                host_account_id = accounts.get(key, _UNKNOWN)[0] if key and accounts else None
                gaps.append(row)
                gap_ids.append(payment_id)
                hosts.append(host_account_id)
                encoded.append(encode(row, payment_id, entry, key, host_account_id))
            elif (
                item[1] != PaymentSource.STATEMENT
                and item[2] is None
                and row.kind is EntryKind.RECEIVED
            ):
                confirm.append(item[0])
            else:
                planned.duplicates += 1
        planned.events = self._events(conn.dialect, planned)
        return planned

    def _events(
        self, dialect: Dialect, planned: _BatchPlan, stored: Sequence[bool] | None = None
    ) -> list[tuple[Any, ...]]:
        """Return the outbox rows of a batch's new payments (``PaymentRecorded``, ``Unmatched``).

        Built by the ledger, as for a single receipt, and encoded by the outbox: one
        event object and one payload conversion a row, no round trip. ``stored``:
        which gaps were inserted (all when None); a gap the key skipped was
        recorded by someone else, whose events are theirs.
        """
        accounts, now = planned.accounts, planned.now
        kept = stored if stored is not None else itertools.repeat(True)
        received = sum(
            1
            for row, ok in zip(planned.gaps, kept, strict=stored is not None)
            if ok and row.kind is EntryKind.RECEIVED
        )
        # A generator: each event is encoded as it is built and freed at once, so a
        # batch's thousands of event objects never live together (nor make the
        # garbage collector walk them).
        events = self._recorded_events(planned, stored, received, accounts, now)
        return encode_events(dialect, events, now)

    def _recorded_events(
        self,
        planned: _BatchPlan,
        stored: Sequence[bool] | None,
        count: int,
        accounts: dict[str, tuple[str | None, bool]],
        now: datetime,
    ) -> Iterator[Event]:
        """Yield the ledger's events of the ``count`` new payments received (kept: ``stored``)."""
        check_accounts = bool(accounts)
        recorded_events = self._ledger.recorded_events
        statement = PaymentSource.STATEMENT
        received = EntryKind.RECEIVED
        kept = stored if stored is not None else itertools.repeat(True)
        event_ids = iter(new_uuid4_hex(count))
        for row, payment_id, host_account_id, ok in zip(
            planned.gaps, planned.gap_ids, planned.gap_hosts, kept, strict=stored is not None
        ):
            if not ok or row.kind is not received:
                continue
            key = _account_key(row.account_number) if row.account_number else None
            known = not check_accounts or bool(key and accounts.get(key, _UNKNOWN)[1])
            yield from recorded_events(
                event_id=_dashed(next(event_ids)),
                occurred_at=now,
                payment_id=_dashed(payment_id),
                receipt_number=row.receipt[:50],
                source=statement,
                amount=row.paid_in,
                account_reference=_clip(row.account_number, 100),
                host_account_id=host_account_id,
                transaction_time=row.completion_time,
                account_known=known,
            )

    async def _apply(
        self, conn: AsyncConnection, planned: _BatchPlan, *, careful: bool
    ) -> _BatchOutcome:
        """Write a planned batch through the ledger: confirm the matched, store the gaps."""
        outcome = _BatchOutcome(duplicates=planned.duplicates)
        ledger = self._ledger
        plan = bulk_plan(payment_items, conn.dialect, GAP_COLUMNS)
        if planned.confirm:
            # Only rows no statement confirmed yet: a repeat in the previous batch, or a
            # concurrent upload of the same file, confirmed them first -> duplicates.
            stamp = plan.convert["updated_at"](planned.now)
            confirmed = await ledger.confirm_many(
                conn, planned.confirm, stamp, "confirmed_by_statement_at"
            )
            outcome.matched += confirmed
            outcome.duplicates += len(planned.confirm) - confirmed
        stored = await ledger.insert_many(conn, plan, planned.encoded, one_by_one=careful)
        if careful:
            events = self._events(conn.dialect, planned, stored)
            await queue_encoded(conn, events, one_by_one=True)
        else:
            await queue_encoded(conn, planned.events)
        by_receipt: dict[str, str] = {}
        for row, payment_id, ok in zip(planned.gaps, planned.gap_ids, stored, strict=True):
            if not ok:
                outcome.duplicates += 1
                continue
            outcome.gaps += 1
            kind = row.kind
            if kind is EntryKind.RECEIVED:
                by_receipt[row.receipt[:50]] = payment_id
                label = "payments"
            else:
                label = kind.value.lower()
            outcome.gap_kinds[label] = outcome.gap_kinds.get(label, 0) + 1
        # A gap whose receipt an STK request knows (e.g. settled by query, callback lost).
        await ledger.link_receipts(conn, by_receipt)
        return outcome


async def _recorded(
    conn: AsyncConnection, receipts: Sequence[str]
) -> dict[tuple[str, str], tuple[Any, str, Any]]:
    """Return what is already recorded for ``receipts``, any source: one query per batch.

    Keyed by (receipt, entry key): (the id as the driver gives it, source,
    confirmed_by_statement_at). Driver-level, so no per-value result processing.
    """
    found: dict[tuple[str, str], tuple[Any, str, Any]] = {}
    for chunk in _chunks(receipts, max_in_values(conn.dialect)):
        where, params = in_values(conn.dialect, "transaction_reference", chunk)
        result = await conn.exec_driver_sql(
            # Identifiers and markers only; every value is a parameter.
            "SELECT id, transaction_reference, entry_key, source, confirmed_by_statement_at "  # noqa: S608
            f"FROM {payment_items.name} WHERE {where}",
            params,
        )
        item: Any
        for item in result:
            found[(item[1], item[2])] = (item[0], item[3], item[4])
    return found
