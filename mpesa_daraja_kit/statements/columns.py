"""Find the header row, map columns by name, and read the preamble above it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from mpesa_daraja_kit.errors import ValidationError
from mpesa_daraja_kit.statements.cells import Cell, amount_cell, id_cell, text_cell, time_cell
from mpesa_daraja_kit.statements.model import (
    EXPECTED_HEADER,
    StatementError,
    StatementFamily,
    StatementPreamble,
)

__all__ = ["ColumnMap", "is_blank_row", "is_header_row", "map_columns", "parse_preamble"]

_UNIT = re.compile(r"\s*\((?:kshs?|kes)\.?\)$")

# folded header text -> field name; family B writes ``Paid In (KSHs)`` (unit removed
# before lookup) and ``Receipt No`` without the dot (STATEMENTS.md).
_HEADER_NAMES = {
    "receipt no": "receipt",
    "receipt number": "receipt",
    "completion time": "completion_time",
    "initiation time": "initiation_time",
    "details": "details",
    "transaction status": "transaction_status",
    "paid in": "paid_in",
    "withdrawn": "withdrawn",
    "balance": "balance",
    "balance confirmed": "balance_confirmed",
    "reason type": "reason_type",
    "other party info": "other_party_info",
    "linked transaction id": "linked_transaction_id",
    "a/c no": "account_number",
    "a/c number": "account_number",
    "currency": "currency",
}
_REQUIRED = ("receipt", "completion_time", "transaction_status", "paid_in", "withdrawn")


def _fold_header(value: Cell) -> str:
    text = " ".join(text_cell(value).split()).lower().rstrip(".:").strip()
    return _UNIT.sub("", text)


def is_header_row(row: Sequence[Cell]) -> bool:
    """Tell whether the row's first non-blank cell is ``Receipt No.`` / ``Receipt No``."""
    for cell in row:
        text = text_cell(cell).strip()
        if text:
            return _HEADER_NAMES.get(_fold_header(text)) == "receipt"
    return False


def is_blank_row(row: Sequence[Cell]) -> bool:
    """Tell whether every cell of the row is empty or whitespace."""
    for cell in row:
        if cell is None:
            continue
        if isinstance(cell, str):
            if cell and not cell.isspace():
                return False
        else:
            return False
    return True


@attrs.frozen
class ColumnMap:
    """Which column index holds which field (None: not in this file); ``width``: header cells."""

    family: StatementFamily
    width: int
    receipt: int
    completion_time: int
    transaction_status: int
    paid_in: int
    withdrawn: int
    initiation_time: int | None = None
    details: int | None = None
    balance: int | None = None
    balance_confirmed: int | None = None
    reason_type: int | None = None
    other_party_info: int | None = None
    linked_transaction_id: int | None = None
    account_number: int | None = None
    currency: int | None = None


def map_columns(header: Sequence[Cell]) -> ColumnMap:
    """Map header cells to fields by name (case and spacing ignored; unknown columns ignored).

    Raises:
        StatementError: a column the kit needs is missing (the message lists them).
    """
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = _HEADER_NAMES.get(_fold_header(cell))
        if name is not None and name not in found:
            found[name] = index
    missing = [name for name in _REQUIRED if name not in found]
    if missing:
        raise StatementError(
            f"the {EXPECTED_HEADER!r} header row lacks the column(s) "
            + ", ".join(repr(n.replace("_", " ").title()) for n in missing),
            missing=missing,
        )
    # Family A carries Reason Type / A/C No.; family B packs both into Details.
    family: StatementFamily = "A" if "reason_type" in found or "account_number" in found else "B"
    if family == "B" and "details" not in found:
        raise StatementError("the header row has neither 'Reason Type' nor 'Details'")
    return ColumnMap(family=family, width=len(header), **found)


_PREAMBLE_TEXT = {
    "account holder": "account_holder",
    "account": "account",
    "operator": "operator",
    "organization": "organization",
    "organisation": "organization",
}
_PREAMBLE_MONEY = {
    "opening balance": "opening_balance",
    "closing balance": "closing_balance",
    "available balance": "available_balance",
    "total paid in": "total_paid_in",
    "total withdrawn": "total_withdrawn",
}


def parse_preamble(rows: Sequence[Sequence[Cell]]) -> StatementPreamble:
    """Read ``Label:`` value pairs from the rows above the header.

    A value that cannot be parsed leaves its field None (it stays in ``raw``):
    the preamble is informative and never a reason to refuse the file.
    """
    pairs: dict[str, list[Cell]] = {}
    for row in rows:
        label: str | None = None
        for cell in row:
            text = text_cell(cell).strip()
            if isinstance(cell, str) and text.endswith(":"):
                label = " ".join(text[:-1].split())
                pairs.setdefault(label, [])
            elif label is not None and text:
                pairs[label].append(cell)
    raw = {label: " ".join(text_cell(v).strip() for v in values) for label, values in pairs.items()}
    fields: dict[str, object] = {}
    for label, values in pairs.items():
        key = label.lower()
        first = values[0] if values else None
        if key in _PREAMBLE_TEXT and first is not None:
            fields[_PREAMBLE_TEXT[key]] = text_cell(first).strip()
        elif key == "short code" and first is not None:
            fields["short_code"] = id_cell(first)
        elif key in _PREAMBLE_MONEY:
            fields[_PREAMBLE_MONEY[key]] = _money(first, label)
        elif key == "date of report":
            fields["report_date"] = _time(first, label)
        elif key == "time period":
            fields["period_from"], fields["period_to"] = _period(values)
    return StatementPreamble(raw=raw, **fields)  # type: ignore[arg-type]


def _money(value: Cell, label: str) -> Decimal | None:
    try:
        return amount_cell(value, field=label)
    except ValidationError:
        return None


def _time(value: Cell, label: str) -> datetime | None:
    if value is None:
        return None
    try:
        return time_cell(value, field=label, allow_date_only=True)
    except ValidationError:
        return None


def _period(values: Sequence[Cell]) -> tuple[datetime | None, datetime | None]:
    # ``Time Period:,From,04-10-2025 00:00:00,To,04-10-2025 23:59:59``
    start: Cell = None
    end: Cell = None
    words = [text_cell(v).strip().lower() for v in values]
    for index, word in enumerate(words[:-1]):
        if word == "from":
            start = values[index + 1]
        elif word == "to":
            end = values[index + 1]
    if start is None and end is None and len(values) >= 2:
        start, end = values[0], values[-1]
    return _time(start, "Time Period From"), _time(end, "Time Period To")


# ``ORG_600123_Utility Account_Completed_20251005080113.csv`` (family A) and
# ``Statements for 600123 from 2026-10-01 to 2026-10-01.csv`` (family B).
_ORG_NAME = re.compile(r"ORG_(\d+)_(.+?)_[A-Za-z]+_(\d{14})(?:\.\w+)?$")
_B_NAME = re.compile(
    r"Statements? for (\d+) from (\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})", re.IGNORECASE
)


def preamble_from_filename(preamble: StatementPreamble, filename: str | None) -> StatementPreamble:
    """Fill fields the preamble lacks from the portal's file name (short code, period)."""
    if not filename:
        return preamble
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    extra: dict[str, object] = {}
    match = _ORG_NAME.search(name)
    if match:
        extra = {"short_code": match[1], "account": match[2]}
        stamp = match[3]
        extra["report_date"] = _time(
            f"{stamp[6:8]}-{stamp[4:6]}-{stamp[0:4]} {stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}",
            "file name",
        )
    elif match := _B_NAME.search(name):
        extra = {
            "short_code": match[1],
            "period_from": _time(f"{match[2]} 00:00:00", "file name"),
            "period_to": _time(f"{match[3]} 23:59:59", "file name"),
        }
    fill = {k: v for k, v in extra.items() if v is not None and getattr(preamble, k) is None}
    return attrs.evolve(preamble, **fill) if fill else preamble  # type: ignore[arg-type]
