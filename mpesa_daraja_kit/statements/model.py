"""What a statement reader gives back: the preamble, parsed rows, row failures, limits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import attrs

from mpesa_daraja_kit.enums import Direction, EntryKind, StatementReasonType, entry_key
from mpesa_daraja_kit.errors import ErrorCode, ValidationError

__all__ = [
    "DEFAULT_LIMITS",
    "RowFailure",
    "RowResult",
    "StatementError",
    "StatementFamily",
    "StatementFormat",
    "StatementLimits",
    "StatementPreamble",
    "StatementRow",
]

StatementFamily = Literal["A", "B"]
"""``A``: Org Portal export (preamble, 13/14 columns); ``B``: "Statements for …" (7 columns)."""

StatementFormat = Literal["csv", "xlsx", "xls"]

EXPECTED_HEADER = "Receipt No."
"""The first cell of the header row every statement must have."""


class StatementError(ValidationError):
    """The uploaded file is not a statement the kit can read (or is too large).

    The whole file is refused; a single bad row is a :class:`RowFailure` instead.
    """

    code = ErrorCode.STATEMENT_INVALID


@attrs.frozen
class StatementLimits:
    """Safety limits applied before and while a statement is read.

    Attributes:
        max_bytes: largest file accepted (None: no limit).
        max_uncompressed_bytes: XLSX: largest total size of the unpacked ZIP entries.
        max_compression_ratio: XLSX: largest unpacked/packed ratio of one entry
            (checked for entries over ``ratio_check_min_bytes``); real sheets stay
            near 10-30, ZIP bombs reach 1000.
        ratio_check_min_bytes: XLSX: entries smaller than this skip the ratio check.
        max_zip_entries: XLSX: most entries in the ZIP directory.
        verify_zip_sizes: XLSX: unpack every entry once (streaming, CRC checked) so a
            directory that under-states sizes cannot slip past the caps.
        header_search_rows: non-blank rows searched for the ``Receipt No.`` header.
        max_in_memory_sheet_bytes: XLSB: largest unpacked size of its sheets; XLSB
            (like XLS) is read whole into memory, CSV and XLSX row by row.
        max_in_memory_sheet_cells: XLS: most cells a sheet's bounding box may span
            (65 536 rows x 22 columns); calamine allocates the whole box.
    """

    max_bytes: int | None = 64 * 1024 * 1024
    max_uncompressed_bytes: int = 1024 * 1024 * 1024
    max_compression_ratio: float = 100.0
    ratio_check_min_bytes: int = 1024 * 1024
    max_zip_entries: int = 1000
    verify_zip_sizes: bool = True
    header_search_rows: int = 50
    max_in_memory_sheet_bytes: int = 64 * 1024 * 1024
    max_in_memory_sheet_cells: int = 65536 * 22


DEFAULT_LIMITS = StatementLimits()


@attrs.frozen
class StatementPreamble:
    """The lines above the header of a family A statement (all optional).

    ``raw`` keeps every ``Label:`` → value pair as text, so nothing in the
    preamble is lost even when a value cannot be parsed.
    """

    account_holder: str | None = None
    short_code: str | None = None
    account: str | None = None
    period_from: datetime | None = None
    period_to: datetime | None = None
    operator: str | None = None
    organization: str | None = None
    report_date: datetime | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    available_balance: Decimal | None = None
    total_paid_in: Decimal | None = None
    total_withdrawn: Decimal | None = None
    raw: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class StatementRow:
    """One parsed statement row; times are aware UTC, money is Decimal."""

    row_number: int
    receipt: str
    completion_time: datetime
    initiation_time: datetime | None
    details: str
    transaction_status: str
    paid_in: Decimal | None
    withdrawn: Decimal | None
    balance: Decimal | None
    balance_confirmed: bool | None
    reason_type_raw: str
    reason_type: StatementReasonType
    other_party_info: str | None
    linked_transaction_id: str | None
    account_number: str | None
    msisdn_masked: str | None
    party_name: str | None
    currency: str | None
    kind: EntryKind
    direction: Direction

    @property
    def entry_key(self) -> str:
        """Return the second half of the row's identity (empty for money received)."""
        return entry_key(self.kind, self.direction, self.reason_type_raw)

    @property
    def amount(self) -> Decimal:
        """Return the money moved, positive: ``paid_in`` (IN) or ``|withdrawn|`` (OUT)."""
        if self.direction is Direction.IN:
            return self.paid_in if self.paid_in is not None else Decimal("0.00")
        return abs(self.withdrawn) if self.withdrawn is not None else Decimal("0.00")


@attrs.frozen(slots=True)
class RowFailure:
    """A row that could not be read; the rest of the file is still read.

    ``row_number`` is the 1-based line (CSV) or row (XLS/XLSX) where the row
    starts, so an operator can find it in the file.
    """

    row_number: int
    reason: str
    raw: tuple[str, ...]


RowResult = StatementRow | RowFailure
