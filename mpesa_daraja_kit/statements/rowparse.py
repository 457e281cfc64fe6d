"""Turn raw rows (lists of cells) into :class:`StatementRow` / :class:`RowFailure`, fast.

This is the per-row hot loop of a million-row import (issue 7 asks for
roughly 200 000 CSV rows a second), so it trades a little elegance for speed:
column indices are bound once, rows are padded so optional columns need no
branch, and the texts that repeat (times shared by a payment and its charge
twin, common amounts, reason types) are parsed once through small caches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from mpesa_daraja_kit.enums import (
    Direction,
    EntryKind,
    StatementReasonType,
    reason_type_from_statement,
)
from mpesa_daraja_kit.errors import ValidationError
from mpesa_daraja_kit.statements.cells import (
    Cell,
    amount_cell,
    bool_cell,
    id_cell,
    text_cell,
    time_cell,
)
from mpesa_daraja_kit.statements.classify import (
    classify,
    family_b_reason,
    split_details,
    split_party,
)
from mpesa_daraja_kit.statements.columns import ColumnMap, is_blank_row
from mpesa_daraja_kit.statements.model import RowFailure, RowResult, StatementRow

__all__ = ["BrokenRow", "RawRows", "mark_internal_pairs", "parse_rows"]

RawRows = Iterator[tuple[int, Sequence[Cell]]]
"""(1-based row number where the row starts, its cells)."""

_CACHE_LIMIT = 20_000
_MAX_PAIR_GROUP = 16
_ZERO = Decimal(0)


class BrokenRow(tuple[str, ...]):
    """Stands for a CSV record the csv module refused (e.g. a field over its size limit)."""

    reason: str

    def __new__(cls, reason: str) -> BrokenRow:
        row = super().__new__(cls, ("",))
        row.reason = reason
        return row


def _raw_text(raw: Sequence[Cell]) -> tuple[str, ...]:
    return tuple(text_cell(value) for value in raw)


def parse_rows(
    columns: ColumnMap, raw_rows: Iterable[tuple[int, Sequence[Cell]]], *, after: int = 0
) -> Iterator[RowResult]:
    """Parse each (row number, cells) into a row or a failure; one bad row never stops the rest.

    Rows numbered ``after`` or less (the preamble and the header) and blank rows are skipped.
    """
    c = columns
    width = c.width
    pad: list[Cell] = [""] * width

    def at(index: int | None) -> int:
        return -1 if index is None else index  # -1: not in this file, read as ""

    i_receipt, i_completion, i_status = c.receipt, c.completion_time, c.transaction_status
    i_paid, i_withdrawn, i_balance = c.paid_in, c.withdrawn, at(c.balance)
    i_initiation, i_details, i_confirmed = (
        at(c.initiation_time),
        at(c.details),
        at(c.balance_confirmed),
    )
    i_reason, i_party, i_linked = (
        at(c.reason_type),
        at(c.other_party_info),
        at(c.linked_transaction_id),
    )
    i_account, i_currency = at(c.account_number), at(c.currency)
    family_a = c.family == "A"

    times: dict[str, datetime] = {}
    amounts: dict[tuple[str, bool], Decimal | None] = {}
    reasons: dict[str, StatementReasonType] = {}

    def when(value: Cell, field: str) -> datetime:
        if value.__class__ is str:
            hit = times.get(value)
            if hit is None:
                if len(times) > _CACHE_LIMIT:
                    times.clear()
                hit = times[value] = time_cell(value, field=field)
            return hit
        return time_cell(value, field=field)

    def money(value: Cell, field: str, zero_is_blank: bool) -> Decimal | None:
        if value.__class__ is str:
            if not value:
                return None
            key = (value, zero_is_blank)
            try:
                return amounts[key]
            except KeyError:
                if len(amounts) > _CACHE_LIMIT:
                    amounts.clear()
                hit = amounts[key] = amount_cell(value, field=field, zero_is_blank=zero_is_blank)
                return hit
        return amount_cell(value, field=field, zero_is_blank=zero_is_blank)

    def reason_of(raw: str) -> StatementReasonType:
        hit = reasons.get(raw)
        if hit is None:
            hit = reasons[raw] = (
                reason_type_from_statement(raw) if family_a else family_b_reason(raw)
            )
        return hit

    for number, raw in raw_rows:
        if number <= after:
            continue
        if type(raw) is BrokenRow:
            yield RowFailure(number, raw.reason, ())
            continue
        if (not raw or raw[0] == "" or raw[0] is None) and is_blank_row(raw):
            continue
        row = raw if len(raw) >= width else [*raw, *pad[len(raw) :]]
        try:
            receipt = id_cell(row[i_receipt])
            if receipt is None:
                raise ValidationError("Receipt No. is blank; expected a receipt such as TJ4C9R5WD8")
            value = row[i_completion]
            completion = times.get(value) if value.__class__ is str else None
            if completion is None:
                completion = when(value, "Completion Time")
            initiation_cell = row[i_initiation] if i_initiation >= 0 else ""
            initiation = (
                None
                if initiation_cell == "" or initiation_cell is None
                else when(initiation_cell, "Initiation Time")
            )
            paid_in = money(row[i_paid], "Paid In", True)
            withdrawn = money(row[i_withdrawn], "Withdrawn", True)
            balance = money((row[i_balance] if i_balance >= 0 else ""), "Balance", False)
        except ValidationError as exc:
            yield RowFailure(number, exc.message, _raw_text(raw))
            continue
        details = text_cell(row[i_details] if i_details >= 0 else "")
        status = text_cell(row[i_status]).strip()
        account: str | None
        if family_a:
            reason_raw = text_cell(row[i_reason] if i_reason >= 0 else "").strip()
            party = text_cell(row[i_party] if i_party >= 0 else "").strip() or None
            account = id_cell(row[i_account] if i_account >= 0 else "")
        else:
            reason_raw, party, account = split_details(details)
        msisdn, name = split_party(party)
        kind, direction = classify(status, paid_in, withdrawn, reason_raw, details, party)
        currency = row[i_currency] if i_currency >= 0 else ""
        yield StatementRow(  # positional: this runs a million times
            number,  # row_number
            receipt.strip(),  # receipt
            completion,  # completion_time
            initiation,  # initiation_time
            details,  # details
            status,  # transaction_status
            paid_in,  # paid_in
            withdrawn,  # withdrawn
            balance,  # balance
            bool_cell(row[i_confirmed] if i_confirmed >= 0 else ""),  # balance_confirmed
            reason_raw,  # reason_type_raw
            reason_of(reason_raw),  # reason_type
            party,  # other_party_info
            id_cell(row[i_linked] if i_linked >= 0 else ""),  # linked_transaction_id
            account,  # account_number
            msisdn,  # msisdn_masked
            name,  # party_name
            (currency.strip() or None)
            if isinstance(currency, str)
            else text_cell(currency),  # currency
            kind,  # kind
            direction,  # direction
        )


def mark_internal_pairs(results: Iterable[RowResult]) -> Iterator[RowResult]:
    """Pass rows through, marking in/out internal transfer pairs as sweeps.

    The newer template books a move between the business's own accounts as an
    IN and an OUT row under one receipt (STATEMENTS.md). Such rows are next to
    each other, so only a run of rows sharing a receipt is held back.
    """
    pending: list[StatementRow] = []
    for result in results:
        if type(result) is RowFailure:
            yield from _flush(pending)
            pending = []
            yield result
            continue
        assert isinstance(result, StatementRow)
        if pending and pending[-1].receipt == result.receipt and len(pending) < _MAX_PAIR_GROUP:
            pending.append(result)
            continue
        if len(pending) == 1:
            yield pending[0]
        elif pending:
            yield from _flush(pending)
        pending.clear()  # reused: no new list per row (a million rows, a million lists)
        pending.append(result)
    yield from _flush(pending)


def _flush(group: list[StatementRow]) -> Iterator[StatementRow]:
    # A customer payment shares its receipt only with its charge twin (a CHARGE,
    # never paired) and its payer is a phone number; an own-account move has
    # neither, and its two legs carry the same amount.
    if len(group) < 2:
        yield from group
        return
    swept: set[int] = set()
    for i, inbound in enumerate(group):
        if (
            inbound.direction is not Direction.IN
            or inbound.kind not in (EntryKind.RECEIVED, EntryKind.OTHER)
            or inbound.msisdn_masked is not None
            or inbound.amount == _ZERO
        ):
            continue
        for j, outbound in enumerate(group):
            if (
                j not in swept
                and outbound.direction is Direction.OUT
                and outbound.kind is EntryKind.OTHER
                and outbound.amount == inbound.amount
            ):
                swept.update((i, j))
                break
    for index, row in enumerate(group):
        yield attrs.evolve(row, kind=EntryKind.SWEEP) if index in swept else row
