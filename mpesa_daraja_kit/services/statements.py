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

Files are read a batch at a time, never all at once, and never blocking the
event loop that answers Safaricom's callbacks: in a worker thread, or (on a
database server, while it writes the previous batch) in the loop a slice at a time.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, BinaryIO

import attrs
import pluggy
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.bulk import (
    BulkPlan,
    bulk_plan,
    in_values,
    max_in_values,
    new_uuid4_hex,
)
from mpesa_daraja_kit.db.models import (
    payment_items,
    payment_uploads,
)
from mpesa_daraja_kit.enums import (
    Direction,
    EntryKind,
    PaymentSource,
    StatementReasonType,
    UploadStatus,
)
from mpesa_daraja_kit.errors import NotFound
from mpesa_daraja_kit.events import (
    Event,
    StatementImported,
)
from mpesa_daraja_kit.plugins import has_host_implementation
from mpesa_daraja_kit.reference import account_key
from mpesa_daraja_kit.services.accounts import lookup_account
from mpesa_daraja_kit.services.ledger import Ledger
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

BATCH_SIZE = 20_000
"""Rows read, looked up and written together. Larger batches mean fewer commits and
look-ups (5 000 rows: 20 % slower); each holds about 3 KB a row while it is written."""

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
        rows = reader.rows()
        accounts_seen: dict[str, tuple[str | None, bool]] = {}  # this import's own
        t0 = time.perf_counter()
        # The first batch is read in a worker thread (so the event loop keeps answering
        # callbacks). On a database server, each next batch is read while the server
        # writes the previous one: in the event loop itself, a slice of rows at a time,
        # so the loop stays responsive and the driver's wake-ups are never kept
        # waiting. A worker thread reading alongside was measured slower: it holds the
        # GIL, and every hop of the driver back to the loop then waits a switch
        # interval (5 ms). SQLite writes in a thread of its own that needs the GIL for
        # every row, so there the batches are read and written in turn.
        read_ahead = self._engine.dialect.name != "sqlite"
        partial = False
        ahead: asyncio.Future[list[Any]] | None = None
        try:
            batch = await _take_in_thread(rows, self.batch_size)
            while batch:
                parsed = _unique_rows(batch, tally)
                if read_ahead:
                    ahead = asyncio.ensure_future(_take_in_slices(rows, self.batch_size))
                if parsed:
                    accounts = await self._lookup_accounts(parsed, accounts_seen)
                    if not await self._import_batch(upload_id, parsed, accounts, preamble, tally):
                        partial = True
                if progress is not None:
                    progress(len(batch))
                if ahead is not None:
                    batch, ahead = await ahead, None
                else:
                    batch = await _take_in_thread(rows, self.batch_size)
        except (Exception, asyncio.CancelledError) as exc:
            # Whatever broke (a reader error, a bug, a shutdown), the upload must not stay
            # PROCESSING: what was stored so far is counted, and the reason kept.
            if isinstance(exc, asyncio.CancelledError):
                log.warning("statement import cancelled", extra={"upload_id": str(upload_id)})
            else:
                log.exception("statement import stopped", extra={"upload_id": str(upload_id)})
            try:
                async with self._engine.begin() as conn:
                    await self._finish(
                        conn,
                        upload_id,
                        tally,
                        UploadStatus.FAILED,
                        self._clock(),
                        type(exc).__name__,
                    )
            except Exception:
                if not isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("a cancelled statement import could not be marked FAILED")
            raise
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            if isinstance(rows, Generator):  # its file is closed next: end it while still open
                rows.close()
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
        async with self._outbox.transaction() as conn:
            await self._finish(conn, upload_id, tally, status, finished)
            await self._outbox.add(
                conn,
                StatementImported(
                    occurred_at=self._clock(),
                    upload_id=str(upload_id),
                    status=status.value,
                    total_statement_items=tally.total,
                    matched_ipn_records=tally.matched,
                    duplicate_statement_records=tally.duplicates,
                    gaps_filled=tally.gaps,
                    failed_items=tally.failed,
                ),
            )
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
        check_accounts = bool(accounts)
        recorded_events = self._ledger.recorded_events
        statement = PaymentSource.STATEMENT
        kept = stored if stored is not None else itertools.repeat(True)
        received = [
            (row, payment_id, host)
            for row, payment_id, host, ok in zip(
                planned.gaps, planned.gap_ids, planned.gap_hosts, kept, strict=stored is not None
            )
            if ok and row.kind is EntryKind.RECEIVED
        ]
        events: list[Event] = []
        for (row, payment_id, host_account_id), event_id in zip(
            received, new_uuid4_hex(len(received)), strict=True
        ):
            key = _account_key(row.account_number) if row.account_number else None
            known = not check_accounts or bool(key and accounts.get(key, _UNKNOWN)[1])
            events.extend(
                recorded_events(
                    event_id=_dashed(event_id),
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
            )
        return EventOutbox.encode_many(dialect, events, now)

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
            await EventOutbox.add_encoded(conn, events, one_by_one=True)
        else:
            await EventOutbox.add_encoded(conn, planned.events)
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


GAP_COLUMNS = (
    "id",
    "transaction_reference",
    "entry_key",
    "entry_kind",
    "direction",
    "source",
    "completion_time",
    "initiation_time",
    "details",
    "transaction_status",
    "paid_in",
    "withdrawn",
    "balance",
    "balance_confirmed",
    "reason_type",
    "reason_type_raw",
    "other_party_info",
    "linked_transaction_id",
    "account_number",
    "account_key",
    "host_account_id",
    "msisdn",
    "first_name",
    "business_short_code",
    "mpesa_payment_report_upload_id",
    "confirmed_by_statement_at",
    "created_at",
    "updated_at",
)
"""The payment columns a statement row fills (the rest stay NULL), in insert order."""

_UNKNOWN: tuple[str | None, bool] = (None, False)

_account_key = functools.lru_cache(maxsize=8192)(account_key)


def _gap_encoder(
    plan: BulkPlan, upload_id: uuid.UUID, short_code: str | None, now: datetime
) -> Callable[[StatementRow, str, str, str | None, str | None], tuple[Any, ...]]:
    """Return a function turning a statement row into the driver tuple of ``GAP_COLUMNS``.

    The hot path of a large import: no dict per row, each value converted once
    by the plan's converter for its column (what SQLAlchemy's processors would
    write; a test reads rows written this way back through the typed table).
    """
    convert = plan.convert
    uuid_value = convert["id"]
    when = convert["completion_time"]
    money = convert["paid_in"]
    flag = convert["balance_confirmed"]
    enum_value = convert["entry_kind"]
    kinds = {kind: enum_value(kind) for kind in EntryKind}
    directions = {direction: enum_value(direction) for direction in Direction}
    reasons = {reason: enum_value(reason) for reason in StatementReasonType}
    source = enum_value(PaymentSource.STATEMENT)
    upload = convert["mpesa_payment_report_upload_id"](upload_id)
    stamp = when(now)

    def encode(
        row: StatementRow, payment_id: str, entry: str, key: str | None, host_account_id: str | None
    ) -> tuple[Any, ...]:
        return (
            uuid_value(payment_id),
            row.receipt[:50],
            entry,
            kinds[row.kind],
            directions[row.direction],
            source,
            when(row.completion_time),
            when(row.initiation_time),
            row.details,
            row.transaction_status[:50],
            money(row.paid_in),
            money(row.withdrawn),
            money(row.balance),
            flag(row.balance_confirmed),
            reasons[row.reason_type],
            # Clipped to the column sizes, empty text stored as NULL (inline: a hot path).
            row.reason_type_raw[:100] or None,
            (row.other_party_info or "")[:255] or None,
            (row.linked_transaction_id or "")[:100] or None,
            (row.account_number or "")[:100] or None,
            (key or "")[:100] or None,
            host_account_id,
            (row.msisdn_masked or "")[:100] or None,
            (row.party_name or "")[:100] or None,
            short_code,
            upload,
            stamp,
            stamp,
            stamp,
        )

    return encode


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


def _dashed(hex32: str) -> str:
    """Return the usual text of a UUID given as 32 hex digits."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _unique_rows(batch: list[Any], tally: _Tally) -> list[StatementRow]:
    """Return the batch's rows, counting failures and repeats of a row within the batch.

    A repeat of a row an earlier batch stored is caught by the look-up or the
    unique key (it is a STATEMENT row by then), so memory stays flat however long the file.
    """
    parsed: list[StatementRow] = []
    seen: set[str | tuple[str, str]] = set()
    received = EntryKind.RECEIVED
    for result in batch:
        if isinstance(result, RowFailure):
            tally.fail(result.row_number, result.reason)
            continue
        # Money received has the empty entry key: its receipt alone is its identity.
        identity = result.receipt if result.kind is received else (result.receipt, result.entry_key)
        if identity in seen:  # the same row twice in one file (overlapping exports)
            tally.duplicates += 1
            continue
        seen.add(identity)
        parsed.append(result)
    return parsed


async def _take_in_thread(rows: Iterator[Any], n: int) -> list[Any]:
    """Return the next ``n`` rows, read in a worker thread.

    If the caller is cancelled, the thread still holds the generator: wait for it
    to finish its batch, so nobody closes the generator (or its file) under it.
    """
    reading = asyncio.ensure_future(asyncio.to_thread(_take, rows, n))
    try:
        return await asyncio.shield(reading)
    except asyncio.CancelledError:
        await asyncio.wait([reading])
        raise


READ_SLICE = 100
"""Rows read per turn of the event loop when a batch is read in the loop (about 1 ms)."""


async def _take_in_slices(rows: Iterator[Any], n: int) -> list[Any]:
    """Return the next ``n`` rows, read a slice at a time between turns of the event loop."""
    out: list[Any] = []
    while len(out) < n:
        want = min(READ_SLICE, n - len(out))
        got = len(out)
        out.extend(itertools.islice(rows, want))
        if len(out) - got < want:
            break  # the end of the file
        await asyncio.sleep(0)
    return out


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
