"""Statement import: fill the gaps the API left, count everything else, store nothing twice.

An upload row is created first (file hash, preamble); then the rows are read
in batches. Per batch, **one query** finds which of its receipts are already
recorded (any source), and **one bulk insert** adds the rest with source
``STATEMENT``. Each statement row lands in exactly one bucket, so
``total = matched + duplicates + gaps + failed`` always holds:

- ``matchedIpnRecords``: money received the API already recorded (IPN or STK
  callback) and no statement had confirmed yet — the row is marked confirmed
  by the statement;
- ``duplicateStatementRecords``: a row an earlier statement (or an earlier row
  of this one) already covered;
- ``gapsFilled``: a row stored now (``breakdown`` tells payments from charge
  twins, sweeps and other movements);
- ``failedItems``: a row that could not be read or written, with its row
  number and reason — it never stops the rest.

Uniqueness is the database's: two uploads of one file at once, or an IPN
racing a gap fill, cannot store a receipt twice. A batch whose bulk insert
meets a row stored meanwhile is redone row by row; a batch that hits another
database error is retried once, then its rows are reported failed and the
upload is marked PARTIAL.

Files are read in a worker thread, a batch at a time, so a large upload never
blocks the event loop that answers Safaricom's callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, BinaryIO

import attrs
import pluggy
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.bulk import bulk_insert
from mpesa_daraja_kit.db.models import event_outbox, payment_items, payment_uploads, stk_requests
from mpesa_daraja_kit.db.queries import insert_ignore
from mpesa_daraja_kit.enums import EntryKind, PaymentSource, UploadStatus
from mpesa_daraja_kit.errors import NotFound
from mpesa_daraja_kit.events import (
    PaymentRecorded,
    PaymentUnmatched,
    StatementImported,
    event_to_payload,
)
from mpesa_daraja_kit.plugins import has_host_implementation
from mpesa_daraja_kit.reference import account_key
from mpesa_daraja_kit.services.accounts import lookup_account
from mpesa_daraja_kit.services.linking import RECEIPT, Linker
from mpesa_daraja_kit.services.outbox import EventOutbox
from mpesa_daraja_kit.statements import (
    RowFailure,
    StatementPreamble,
    StatementReader,
    StatementRow,
    open_statement,
)

__all__ = ["FailedItem", "StatementService", "UploadReport"]

log = logging.getLogger("mpesa_daraja_kit.statements")

MAX_STORED_FAILURES = 1000
"""Failed rows kept with their reasons on the upload (all are counted)."""

MAX_CACHED_ACCOUNTS = 20_000
"""Account answers remembered during one upload (bounded: memory stays flat)."""


@attrs.frozen
class FailedItem:
    """A statement row that could not be imported."""

    row: int
    reason: str


@attrs.frozen(kw_only=True)
class UploadReport:
    """An upload and its statistics (``MpesaPaymentUploadResponseDto``)."""

    id: uuid.UUID
    file_name: str
    file_sha256: str
    file_format: str
    family: str
    status: UploadStatus
    uploaded_by: str | None
    short_code: str | None
    period_from: datetime | None
    period_to: datetime | None
    total_statement_items: int
    matched_ipn_records: int
    duplicate_statement_records: int
    gaps_filled: int
    failed_item_count: int
    failed_items: tuple[FailedItem, ...]
    breakdown: dict[str, int]
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration_ms(self) -> int | None:
        """Return how long the import took, in milliseconds."""
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    @classmethod
    def from_row(cls, row: Any) -> UploadReport:
        """Build the report from a ``mpesa_payment_report_uploads`` row."""
        return cls(
            id=row.id,
            file_name=row.file_name,
            file_sha256=row.file_sha256,
            file_format=row.file_format,
            family=row.family,
            status=row.status,
            uploaded_by=row.uploaded_by,
            short_code=row.short_code,
            period_from=row.period_from,
            period_to=row.period_to,
            total_statement_items=row.total_statement_items,
            matched_ipn_records=row.matched_ipn_records,
            duplicate_statement_records=row.duplicate_statement_records,
            gaps_filled=row.gaps_filled,
            failed_item_count=row.failed_item_count,
            failed_items=tuple(FailedItem(f["row"], f["reason"]) for f in row.failed_items or ()),
            breakdown=dict(row.breakdown or {}),
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


@attrs.define
class _Tally:
    matched: int = 0
    duplicates: int = 0
    gaps: int = 0
    failed: int = 0
    breakdown: dict[str, int] = attrs.field(factory=dict)
    failures: list[FailedItem] = attrs.field(factory=list)

    @property
    def total(self) -> int:
        return self.matched + self.duplicates + self.gaps + self.failed

    def fail(self, row: int, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_STORED_FAILURES:
            self.failures.append(FailedItem(row, reason[:500]))

    def bump(self, key: str, n: int = 1) -> None:
        self.breakdown[key] = self.breakdown.get(key, 0) + n


@attrs.define
class _BatchOutcome:
    matched: int = 0
    duplicates: int = 0
    gaps: int = 0
    gap_kinds: dict[str, int] = attrs.field(factory=dict)


def _preamble_json(preamble: StatementPreamble) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(StatementPreamble):
        value = getattr(preamble, field.name)
        if value is None or value == {}:
            continue
        if isinstance(value, Decimal):
            value = f"{value:f}"
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[field.name] = value
    return out


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


class StatementService:
    """Import statements and report on uploads."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        pm: pluggy.PluginManager,
        outbox: EventOutbox,
        linker: Linker,
        clock: Clock = utc_now,
        batch_size: int = 5000,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._pm = pm
        self._outbox = outbox
        self._linker = linker
        self._clock = clock
        self.batch_size = batch_size
        self._accounts: dict[str, tuple[str | None, bool]] = {}

    # -- reading ------------------------------------------------------------------------

    async def get(self, upload_id: uuid.UUID | str) -> UploadReport:
        """Return one upload's report."""
        try:
            key = uuid.UUID(str(upload_id))
        except ValueError:
            raise NotFound(f"no statement upload {str(upload_id)[:100]!r}") from None
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(payment_uploads).where(payment_uploads.c.id == key))
            ).first()
        if row is None:
            raise NotFound(f"no statement upload {upload_id}")
        return UploadReport.from_row(row)

    # -- importing ----------------------------------------------------------------------

    async def import_file(
        self,
        source: bytes | str | BinaryIO | Any,
        *,
        uploaded_by: str | None = None,
        filename: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> UploadReport:
        """Import a statement file (bytes, a path, or a binary file object).

        Raises:
            StatementError: the file is not a statement the kit can read, or too large
                (nothing is stored).
        """
        reader = await asyncio.to_thread(
            open_statement, source, max_bytes=self._settings.statement_max_bytes, filename=filename
        )
        try:
            return await self._import(reader, uploaded_by, filename, progress)
        finally:
            await asyncio.to_thread(reader.close)

    async def _import(
        self,
        reader: StatementReader,
        uploaded_by: str | None,
        filename: str | None,
        progress: Callable[[int], None] | None,
    ) -> UploadReport:
        started = self._clock()
        upload_id = uuid.uuid4()
        preamble = reader.preamble
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(payment_uploads).values(
                    id=upload_id,
                    file_name=(filename or getattr(reader, "filename", None) or "")[:255],
                    file_sha256=reader.sha256,
                    file_size=getattr(reader, "size", 0) or 0,
                    file_format=reader.format,
                    family=reader.family,
                    uploaded_by=_clip(uploaded_by, 255),
                    status=UploadStatus.PROCESSING,
                    short_code=_clip(preamble.short_code, 20),
                    period_from=preamble.period_from,
                    period_to=preamble.period_to,
                    preamble=_preamble_json(preamble),
                    started_at=started,
                    created_at=started,
                )
            )
        tally = _Tally()
        partial = False
        rows = reader.rows()
        self._accounts = {}
        t0 = time.perf_counter()
        # Read the next batch in a worker thread while this one is written.
        pending = asyncio.ensure_future(asyncio.to_thread(_take, rows, self.batch_size))
        try:
            while True:
                batch = await pending
                if not batch:
                    break
                pending = asyncio.ensure_future(asyncio.to_thread(_take, rows, self.batch_size))
                parsed: list[StatementRow] = []
                # Repeats inside a batch are caught here; a repeat of a row an earlier
                # batch stored is caught by the batch's look-up (it is a STATEMENT row
                # by then), so memory stays flat however long the file.
                seen: set[tuple[str, str]] = set()
                for result in batch:
                    if isinstance(result, RowFailure):
                        tally.fail(result.row_number, result.reason)
                        continue
                    identity = (result.receipt, result.entry_key)
                    if identity in seen:  # the same row twice in one file (overlapping exports)
                        tally.duplicates += 1
                        continue
                    seen.add(identity)
                    parsed.append(result)
                if parsed and not await self._import_batch(upload_id, parsed, preamble, tally):
                    partial = True
                if progress is not None:
                    progress(len(batch))
        except Exception as exc:
            # Whatever broke (a reader error, a bug), the upload must not stay PROCESSING:
            # what was stored so far is counted, and the reason kept.
            log.exception("statement import stopped", extra={"upload_id": str(upload_id)})
            async with self._engine.begin() as conn:
                await self._finish(
                    conn, upload_id, tally, UploadStatus.FAILED, self._clock(), type(exc).__name__
                )
            raise
        finally:
            if not pending.done():
                await asyncio.wait([pending])
        finished = self._clock()
        status = UploadStatus.PARTIAL if partial else UploadStatus.COMPLETED
        log.info(
            "statement imported",
            extra={
                "upload_id": str(upload_id),
                "rows": tally.total,
                "matched": tally.matched,
                "duplicates": tally.duplicates,
                "gaps": tally.gaps,
                "failed": tally.failed,
                "seconds": round(time.perf_counter() - t0, 3),
            },
        )
        async with self._engine.begin() as conn:
            await self._finish(conn, upload_id, tally, status, finished)
            await self._outbox.add(
                conn,
                StatementImported(
                    upload_id=str(upload_id),
                    status=status.value,
                    total_statement_items=tally.total,
                    matched_ipn_records=tally.matched,
                    duplicate_statement_records=tally.duplicates,
                    gaps_filled=tally.gaps,
                    failed_items=tally.failed,
                ),
                dedupe_key=f"statement_imported:{upload_id}",
            )
        await self._outbox.after_commit()
        return await self.get(upload_id)

    async def _finish(
        self,
        conn: AsyncConnection,
        upload_id: uuid.UUID,
        tally: _Tally,
        status: UploadStatus,
        finished: datetime,
        error: str | None = None,
    ) -> None:
        """Write an upload's final status and statistics."""
        await conn.execute(
            sa.update(payment_uploads)
            .where(payment_uploads.c.id == upload_id)
            .values(
                status=status,
                total_statement_items=tally.total,
                matched_ipn_records=tally.matched,
                duplicate_statement_records=tally.duplicates,
                gaps_filled=tally.gaps,
                failed_item_count=tally.failed,
                failed_items=[attrs.asdict(f) for f in tally.failures],
                breakdown=tally.breakdown,
                error=f"import stopped: {error}"[:1000] if error else None,
                finished_at=finished,
            )
        )

    async def _import_batch(
        self,
        upload_id: uuid.UUID,
        rows: list[StatementRow],
        preamble: StatementPreamble,
        tally: _Tally,
    ) -> bool:
        """Import one batch; False when its rows had to be reported failed."""
        accounts = await self._lookup_accounts(rows)
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
            await self._outbox.after_commit()
            return True
        reason = f"database error: {type(last_error).__name__}; the row was not imported"
        for row in rows:
            tally.fail(row.row_number, reason)
        return False

    async def _lookup_accounts(
        self, rows: Sequence[StatementRow]
    ) -> dict[str, tuple[str | None, bool]]:
        """Ask the host about each new account reference once per import."""
        if not has_host_implementation(self._pm, "mpesa_lookup_account"):
            return {}
        if len(self._accounts) >= MAX_CACHED_ACCOUNTS:
            self._accounts.clear()  # between batches, never while one is being built
        for row in rows:
            if row.kind is not EntryKind.RECEIVED or not row.account_number:
                continue
            key = account_key(row.account_number)
            if key and key not in self._accounts:
                try:
                    account = await lookup_account(self._pm, row.account_number)
                except Exception:
                    # Hooks never decide whether a payment is stored (DESIGN.md §5.6).
                    log.exception("mpesa_lookup_account failed; the payment is stored untagged")
                    account = None
                self._accounts[key] = (
                    (account.account_id, True) if account is not None else (None, False)
                )
        return self._accounts

    async def _write_batch(
        self,
        upload_id: uuid.UUID,
        rows: list[StatementRow],
        preamble: StatementPreamble,
        accounts: dict[str, tuple[str | None, bool]],
        *,
        careful: bool,
    ) -> _BatchOutcome:
        outcome = _BatchOutcome()
        now = self._clock()
        receipts = list({row.receipt for row in rows})
        async with self._engine.begin() as conn:
            existing: dict[tuple[str, str], Any] = {}
            for chunk in _chunks(receipts, 5000):
                found = await conn.execute(
                    sa.select(
                        payment_items.c.id,
                        payment_items.c.transaction_reference,
                        payment_items.c.entry_key,
                        payment_items.c.source,
                        payment_items.c.confirmed_by_statement_at,
                    ).where(payment_items.c.transaction_reference.in_(chunk))
                )
                for found_item in found:
                    existing[(found_item.transaction_reference, found_item.entry_key)] = found_item
            confirm: list[uuid.UUID] = []
            new_rows: list[tuple[StatementRow, dict[str, Any]]] = []
            for row in rows:
                item = existing.get((row.receipt, row.entry_key))
                if item is None:
                    new_rows.append((row, self._values(row, upload_id, preamble, accounts, now)))
                elif (
                    item.source is not PaymentSource.STATEMENT
                    and item.confirmed_by_statement_at is None
                    and row.kind is EntryKind.RECEIVED
                ):
                    confirm.append(item.id)
                else:
                    outcome.duplicates += 1
            for chunk in _chunks(confirm, 5000):
                await conn.execute(
                    sa.update(payment_items)
                    .where(payment_items.c.id.in_(chunk))
                    .values(confirmed_by_statement_at=now, updated_at=now)
                )
            outcome.matched += len(confirm)
            inserted = await self._insert(conn, [v for _, v in new_rows], careful=careful)
            outcome.duplicates += len(new_rows) - len(inserted)
            outcome.gaps += len(inserted)
            received: list[dict[str, Any]] = []
            for row, values in new_rows:
                if values["id"] not in inserted:
                    continue
                kind = "payments" if row.kind is EntryKind.RECEIVED else row.kind.value.lower()
                outcome.gap_kinds[kind] = outcome.gap_kinds.get(kind, 0) + 1
                if row.kind is EntryKind.RECEIVED:
                    received.append(values)
            await self._events_and_links(conn, received, accounts, careful=careful)
        return outcome

    def _values(
        self,
        row: StatementRow,
        upload_id: uuid.UUID,
        preamble: StatementPreamble,
        accounts: dict[str, tuple[str | None, bool]],
        now: datetime,
    ) -> dict[str, Any]:
        key = account_key(row.account_number) or None
        host_account_id = accounts.get(key, (None, False))[0] if key else None
        short_code = _clip(preamble.short_code or self._settings.business_short_code, 20)
        # Only the columns a statement row can fill: the rest stay NULL.
        return {
            "id": uuid.uuid4(),
            "transaction_reference": row.receipt[:50],
            "entry_key": row.entry_key,
            "entry_kind": row.kind,
            "direction": row.direction,
            "source": PaymentSource.STATEMENT,
            "completion_time": row.completion_time,
            "initiation_time": row.initiation_time,
            "details": row.details,
            "transaction_status": row.transaction_status[:50],
            "paid_in": row.paid_in,
            "withdrawn": row.withdrawn,
            "balance": row.balance,
            "balance_confirmed": row.balance_confirmed,
            "reason_type": row.reason_type,
            "reason_type_raw": _clip(row.reason_type_raw, 100),
            "other_party_info": _clip(row.other_party_info, 255),
            "linked_transaction_id": _clip(row.linked_transaction_id, 100),
            "account_number": _clip(row.account_number, 100),
            "account_key": _clip(key, 100),
            "host_account_id": host_account_id,
            "msisdn": _clip(row.msisdn_masked, 100),
            "first_name": _clip(row.party_name, 100),
            "business_short_code": short_code,
            "mpesa_payment_report_upload_id": upload_id,
            "confirmed_by_statement_at": now,
            "created_at": now,
            "updated_at": now,
        }

    async def _insert(
        self, conn: AsyncConnection, values: list[dict[str, Any]], *, careful: bool
    ) -> set[uuid.UUID]:
        """Insert rows; return the ids that were inserted (all of them unless careful)."""
        if not values:
            return set()
        if not careful:
            await bulk_insert(conn, payment_items, values)
            return {v["id"] for v in values}
        inserted: set[uuid.UUID] = set()
        for v in values:
            if await insert_ignore(conn, payment_items, v, ["transaction_reference", "entry_key"]):
                inserted.add(v["id"])
        return inserted

    async def _events_and_links(
        self,
        conn: AsyncConnection,
        received: list[dict[str, Any]],
        accounts: dict[str, tuple[str | None, bool]],
        *,
        careful: bool,
    ) -> None:
        if not received:
            return
        check_accounts = bool(accounts)
        events: list[dict[str, Any]] = []
        now = self._clock()
        occurred = now.isoformat()
        for values in received:
            receipt = values["transaction_reference"]
            events.append(
                _recorded_event(values, occurred, now, f"payment_recorded:{receipt}"[:255])
            )
            key = values["account_key"]
            if check_accounts and not (key and accounts.get(key, (None, False))[1]):
                unmatched = PaymentUnmatched(
                    payment_id=str(values["id"]),
                    receipt_number=receipt,
                    account_reference=values["account_number"],
                    amount=values["paid_in"],
                    source=PaymentSource.STATEMENT.value,
                )
                events.append(_outbox_row(unmatched, f"payment_unmatched:{receipt}", now))
        if careful:
            for event in events:
                await insert_ignore(conn, event_outbox, event, ["dedupe_key"])
        else:
            await bulk_insert(conn, event_outbox, events)
        # A gap whose receipt an STK request knows (e.g. settled by query, callback lost).
        by_receipt = {v["transaction_reference"]: v for v in received}
        for chunk in _chunks(list(by_receipt), 5000):
            requests = (
                await conn.execute(
                    sa.select(stk_requests).where(stk_requests.c.receipt_number.in_(chunk))
                )
            ).all()
            for request in requests:
                payment = (
                    await conn.execute(
                        sa.select(payment_items).where(
                            payment_items.c.id == by_receipt[request.receipt_number]["id"]
                        )
                    )
                ).one()
                await self._linker.link(conn, payment, request, RECEIPT)


def _recorded_event(
    values: dict[str, Any], occurred: str, now: datetime, dedupe_key: str
) -> dict[str, Any]:
    """Return the outbox row of a gap's ``PaymentRecorded``, built without the event object.

    It is the hot path of a large import; ``event_to_payload(PaymentRecorded(...))``
    gives the same payload (a test compares them).
    """
    event_id = uuid.uuid4()
    paid_in = values["paid_in"]
    return {
        "id": event_id,
        "event_type": PaymentRecorded.hook,
        "dedupe_key": dedupe_key,
        "payload": {
            "event_id": str(event_id),
            "occurred_at": occurred,
            "payment_id": str(values["id"]),
            "receipt_number": values["transaction_reference"],
            "source": PaymentSource.STATEMENT.value,
            "amount": None if paid_in is None else str(paid_in),
            "account_reference": values["account_number"],
            "host_account_id": values["host_account_id"],
            "transaction_time": values["completion_time"].isoformat(),
            "msisdn_hash": None,
            "stk_push_request_id": None,
            "payer_name": None,
        },
        "status": "PENDING",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _outbox_row(event: Any, dedupe_key: str, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.UUID(event.event_id),
        "event_type": event.hook,
        "dedupe_key": dedupe_key[:255],
        "payload": event_to_payload(event),
        "status": "PENDING",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _take(rows: Iterator[Any], n: int) -> list[Any]:
    out = []
    for item in rows:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
