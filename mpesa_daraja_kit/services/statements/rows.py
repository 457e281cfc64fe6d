"""Statement rows: read in batches off the event loop, deduplicated, encoded for the bulk insert."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from mpesa_daraja_kit.db.bulk import BulkPlan
from mpesa_daraja_kit.enums import Direction, EntryKind, PaymentSource, StatementReasonType
from mpesa_daraja_kit.reference import account_key
from mpesa_daraja_kit.statements import RowFailure, StatementPreamble, StatementRow

log = logging.getLogger("mpesa_daraja_kit.statements")

MAX_STORED_FAILURES = 1000
"""Failed rows kept with their reasons on the upload (all are counted)."""


@attrs.frozen
class FailedItem:
    """A statement row that could not be imported."""

    row: int
    reason: str


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
