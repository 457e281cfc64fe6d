"""A deterministic generator of M-Pesa statements and their C2B confirmations.

Follows STATEMENTS.md: Org Portal (family A) CSV/XLSX/XLS with a preamble and
13 (or 14) columns, newest first, realistic receipts, charge twins sharing the
payment's receipt, daily sweeps to the settlement account, in/out internal
pairs, masked parties, messy account references; family B CSV. Each
:class:`Quirk` switches on one oddity seen in real files.

Rows are produced block by block (a block ends with its sweep) and written as
they come, so a million rows stream to a CSV file in flat memory. Importable
from benchmarks: no pytest at module level.

The truth (:func:`generate_rows`) is what a correct reader must give back.
"""

from __future__ import annotations

import csv
import io
import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import IO, Any

import attrs

from mpesa_daraja_kit.clock import KENYA_TZ
from mpesa_daraja_kit.enums import Direction, EntryKind
from mpesa_daraja_kit.phone import hash_msisdn

__all__ = [
    "EXCEL_RESAVE",
    "HEADER_A",
    "HEADER_B",
    "Quirk",
    "StatementSpec",
    "TruthRow",
    "c2b_confirmations",
    "expected_counts",
    "family_b_truth",
    "generate_rows",
    "receipt_number",
    "write_family_a_csv",
    "write_family_a_xls",
    "write_family_a_xlsx",
    "write_family_b_csv",
]


class Quirk(StrEnum):
    """One oddity of real statement files, switched on in a :class:`StatementSpec`."""

    BOM = "bom"  # CSV starts with a UTF-8 byte order mark
    CP1252 = "cp1252"  # CSV saved as Windows-1252 (and a payer name with an accent)
    DATE_CELLS = "date_cells"  # XLSX/XLS: times as date-typed cells (Excel re-save)
    NO_SECONDS = "no_seconds"  # times lose their seconds (Excel re-save)
    SLASH_DATES = "slash_dates"  # DD/MM/YYYY instead of DD-MM-YYYY
    FLOAT_ACCOUNT = "float_account"  # numeric A/C No. as a float cell / "850060.0" text
    THOUSANDS = "thousands"  # 1,234.00
    PARENS_NEGATIVE = "parens_negative"  # (60.00) for -60.00
    KES_PREFIX = "kes_prefix"  # KES 60.00
    ZERO_FOR_BLANK = "zero_for_blank"  # 0.00 where Paid In / Withdrawn is blank
    NUMERIC_AMOUNTS = "numeric_amounts"  # XLSX/XLS: amounts as number cells
    BLANK_ROWS = "blank_rows"  # blank rows in the preamble, after the header, between rows
    MULTILINE_DETAILS = "multiline_details"  # a line break inside Details
    CURRENCY_COLUMN = "currency_column"  # 14th column Currency
    UPPER_TRUE = "upper_true"  # Balance Confirmed TRUE (a boolean cell in XLSX/XLS)
    NOT_COMPLETED = "not_completed"  # some rows are not Completed
    BROKEN_ROWS = "broken_rows"  # rows with a bad time, a bad amount or no receipt


EXCEL_RESAVE = frozenset(
    {Quirk.DATE_CELLS, Quirk.NO_SECONDS, Quirk.SLASH_DATES, Quirk.FLOAT_ACCOUNT}
)

HEADER_A = [
    "Receipt No.", "Completion Time", "Initiation Time", "Details", "Transaction Status",
    "Paid In", "Withdrawn", "Balance", "Balance Confirmed", "Reason Type", "Other Party Info",
    "Linked Transaction ID", "A/C No.",
]  # fmt: skip
HEADER_B = [
    "Receipt No", "Completion Time", "Details", "Transaction Status", "Paid In (KSHs)",
    "Withdrawn (KSHs)", "Balance (KSHs)",
]  # fmt: skip

_HOLDER = "KARIBU MICRO INSURANCE LIMITED"
_FIRST = ["JANE", "PETER", "MARY", "JOHN", "ALICE", "BRIAN", "GRACE", "KEVIN", "FAITH", "DAVID",
          "MERCY", "JAMES", "ESTHER", "SAMUEL", "LUCY", "DENNIS"]  # fmt: skip
_LAST = ["MWANGI", "OTIENO", "KAMAU", "WANJIRU", "ODHIAMBO", "KIPTOO", "NJERI", "MUTUA",
         "CHEBET", "OMONDI", "WAMBUI", "KARIUKI"]  # fmt: skip
_BUSINESSES = [("600100", "ACME SACCO LTD"), ("700200", "CAFÉ NAIROBI LTD"),
               ("800300", "UMOJA SCHOOLS")]  # fmt: skip
_COLLECTIONS = [
    ("Pay Utility", 60), ("Pay Bill Online", 25), ("Pay Utility with OD via STK", 5),
    ("Pay Utility with OD Online", 3), ("Standing Order Pay Bill", 3), ("Unusual New Reason", 1),
]  # fmt: skip
_SWEEP = "Utility Account to Organization Settlement Account"
_PAYOUT = "Business Payment to Customer via API"
_PAIR_REASON = "Organization Funds Transfer"
_RECEIPT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_DAY_LETTERS = "123456789ABCDEFGHIJKLMNOPQRSTUV"


@attrs.frozen
class StatementSpec:
    """What to generate; the same spec always gives the same statement."""

    seed: int = 1
    rows: int = 60
    start: datetime = datetime(2025, 10, 4, 0, 0, tzinfo=KENYA_TZ)
    short_code: str = "600123"
    charge_share: float = 0.8  # payments whose tariff is charged to the business (twin row)
    business_payer_share: float = 0.04
    payout_share: float = 0.03
    pair_share: float = 0.02  # in/out internal transfer pairs sharing a receipt
    not_completed_share: float = 0.04  # with Quirk.NOT_COMPLETED
    broken_share: float = 0.05  # with Quirk.BROKEN_ROWS
    blank_share: float = 0.05  # with Quirk.BLANK_ROWS
    multiline_share: float = 0.3  # with Quirk.MULTILINE_DETAILS
    block_events: tuple[int, int] = (15, 60)  # events between two sweeps
    preamble_totals: bool = True  # balances and totals in the preamble (one extra pass)
    quirks: frozenset[Quirk] = attrs.field(default=frozenset(), converter=frozenset)

    @property
    def end(self) -> datetime:
        """Return the end of the statement period (one minute per row after ``start``)."""
        return self.start + timedelta(seconds=60 * (self.rows + 1))


@attrs.frozen(slots=True)
class TruthRow:
    """One generated row and what a correct reader must make of it."""

    receipt: str
    completion_time: datetime  # aware UTC, seconds dropped with NO_SECONDS
    initiation_time: datetime
    details: str
    transaction_status: str
    paid_in: Decimal | None
    withdrawn: Decimal | None
    balance: Decimal
    reason_type_raw: str
    other_party_info: str | None
    account_number: str | None  # as a reader renders it (float quirk loses leading zeros)
    account_typed: str | None  # as the customer typed it (= C2B BillRefNumber)
    kind: EntryKind | None  # None for a broken row
    direction: Direction
    broken: str | None = None  # "time" | "amount" | "receipt"
    msisdn: str | None = None  # the payer's full number (never written to the statement)
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""


def receipt_number(rng: random.Random, when: datetime) -> str:
    """Return a receipt in the M-Pesa shape: year, month and day letters + 7 characters."""
    local = when.astimezone(KENYA_TZ)
    year = chr(ord("L") + local.year - 2017)
    month = chr(ord("A") + local.month - 1)
    tail = "".join(rng.choices(_RECEIPT_ALPHABET, k=7))
    return f"{year}{month}{_DAY_LETTERS[local.day - 1]}{tail}"


def _tariff(amount: Decimal) -> Decimal:
    for limit, fee in ((100, 0), (500, 5), (1000, 10), (1500, 15), (2500, 20), (5000, 30)):
        if amount <= limit:
            return Decimal(fee)
    return Decimal(40)


def _account(rng: random.Random) -> str:
    roll = rng.random()
    number = rng.randint(1, 99999)
    if roll < 0.55:
        return f"POL{number:07d}"
    if roll < 0.70:
        return f"pol{number:07d}"
    if roll < 0.78:
        return f" POL{number:07d} "
    if roll < 0.84:
        return f"POL {number:07d}"
    if roll < 0.93:
        return str(rng.randint(100000, 999999))  # numeric-looking
    return f"00{rng.randint(1000, 9999)}"  # numeric with leading zeros


def _render_account(typed: str, quirks: frozenset[Quirk]) -> str:
    if Quirk.FLOAT_ACCOUNT in quirks and typed.isdigit():
        return str(int(typed))  # a float cell cannot keep leading zeros
    return typed


def _person(rng: random.Random) -> tuple[str, str, str, str, str]:
    msisdn = "2547" + "".join(rng.choices("0123456789", k=8))
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    middle = rng.choice(_LAST) if rng.random() < 0.4 else ""
    shown = f"{first} **** {last}" if middle else f"{first} {last}"
    party = f"{msisdn[:5]}****{msisdn[-3:]} - {shown}"
    return msisdn, party, first, middle, last


def _minute(when: datetime, quirks: frozenset[Quirk]) -> datetime:
    return when.replace(second=0) if Quirk.NO_SECONDS in quirks else when


class _Block:
    """Events between two sweeps, built oldest first, emitted newest first."""

    def __init__(self, spec: StatementSpec, rng: random.Random, end: datetime, budget: int) -> None:
        self.spec, self.rng, self.quirks = spec, rng, spec.quirks
        self.rows: list[TruthRow] = []
        self.balance = Decimal("0.00")
        events = rng.randint(*spec.block_events)
        self.step = timedelta(seconds=60)
        self.time = end - self.step * (events + 1)
        for _ in range(events):
            left = budget - len(self.rows) - 1  # keep one row for the sweep
            if left <= 0:
                break
            self._event(left)
        self._tick()
        if self.balance > 0:
            self._row(_SWEEP, None, -self.balance, _SWEEP, None, EntryKind.SWEEP, Direction.OUT)
        elif not self.rows:
            self._payment(1)

    def _tick(self) -> None:
        self.time += self.step
        jitter = timedelta(seconds=self.rng.randint(0, 45))
        when = (self.time + jitter).astimezone(UTC)
        self.when = _minute(when, self.quirks)
        self.initiated = _minute(when - timedelta(seconds=self.rng.randint(0, 3)), self.quirks)
        self.receipt = receipt_number(self.rng, when)

    def _row(self, details: str, paid_in: Decimal | None, withdrawn: Decimal | None,
             reason: str, party: str | None, kind: EntryKind | None, direction: Direction,
             **extra: Any) -> None:  # fmt: skip
        if not extra.get("broken") and kind is not EntryKind.NOT_COMPLETED:
            self.balance += (paid_in or 0) + (withdrawn or 0)
        status = (
            "Completed"
            if kind is not EntryKind.NOT_COMPLETED
            else self.rng.choice(["Failed", "Cancelled", "Declined"])
        )
        self.rows.append(TruthRow(
            receipt=self.receipt, completion_time=self.when,
            initiation_time=self.initiated,
            details=details, transaction_status=status, paid_in=paid_in, withdrawn=withdrawn,
            balance=self.balance, reason_type_raw=reason, other_party_info=party,
            kind=kind, direction=direction, **{"account_number": None, "account_typed": None, **extra},
        ))  # fmt: skip

    def _event(self, left: int) -> None:
        spec, rng, quirks = self.spec, self.rng, self.quirks
        self._tick()
        roll = rng.random()
        if Quirk.BROKEN_ROWS in quirks and roll < spec.broken_share:
            self._broken()
            return
        roll = rng.random()
        if roll < spec.payout_share and self.balance > 500:
            amount = Decimal(rng.randint(1, int(self.balance) // 2))
            _, party, *_ = _person(rng)
            self._row(_PAYOUT, None, -amount, _PAYOUT, party, EntryKind.OTHER, Direction.OUT)
            return
        if roll < spec.payout_share + spec.pair_share and left >= 2:
            amount = Decimal(rng.randint(100, 5000))
            own = f"{spec.short_code} - {_HOLDER}"
            self._row(f"{_PAIR_REASON} to {own}", None, -amount, _PAIR_REASON, own,
                      EntryKind.SWEEP, Direction.OUT)  # fmt: skip
            self._row(f"{_PAIR_REASON} from {own}", amount, None, _PAIR_REASON, own,
                      EntryKind.SWEEP, Direction.IN)  # fmt: skip
            return
        self._payment(left)

    def _payment(self, left: int) -> None:
        spec, rng, quirks = self.spec, self.rng, self.quirks
        typed = _account(rng)
        amount = Decimal(rng.choice([50, 100, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 5000,
                                     7500, 12000])) + (Decimal("0.50") if rng.random() < 0.05 else 0)  # fmt: skip
        if rng.random() < spec.business_payer_share:
            code, name = rng.choice(_BUSINESSES)
            party, msisdn, names = f"{code} - {name}", None, (name, "", "")
            reason = "Business Pay Bill"
        else:
            msisdn, party, *person = _person(rng)
            names = (person[0], person[1], person[2])
            reason = rng.choices([r for r, _ in _COLLECTIONS], [w for _, w in _COLLECTIONS])[0]
        sep = (
            "\n"
            if Quirk.MULTILINE_DETAILS in quirks and rng.random() < spec.multiline_share
            else " "
        )
        details = f"Pay Bill from {party}{sep}Acc. {typed}"
        not_completed = Quirk.NOT_COMPLETED in quirks and rng.random() < spec.not_completed_share
        kind = EntryKind.NOT_COMPLETED if not_completed else EntryKind.RECEIVED
        fee = _tariff(amount)
        twin = not not_completed and fee > 0 and left >= 2 and rng.random() < spec.charge_share
        self._row(details, amount, None, reason, party, kind, Direction.IN,
                  account_number=_render_account(typed, quirks), account_typed=typed,
                  msisdn=msisdn, first_name=names[0], middle_name=names[1], last_name=names[2])  # fmt: skip
        if twin:
            self._row("Pay Bill Charge", None, -fee, reason, "SP", EntryKind.CHARGE, Direction.OUT)

    def _broken(self) -> None:
        what = self.rng.choice(["time", "amount", "receipt"])
        self._row("Pay Bill from 25470****000 - BROKEN ROW Acc. X", Decimal(100), None,
                  "Pay Utility", None, None, Direction.IN, broken=what)  # fmt: skip


def generate_rows(spec: StatementSpec) -> Iterator[TruthRow]:
    """Yield the statement's rows newest first, exactly ``spec.rows`` of them."""
    rng = random.Random(spec.seed)
    end = spec.end.astimezone(UTC)
    left = spec.rows
    while left > 0:
        block = _Block(spec, rng, end, left)
        rows = block.rows[-left:]
        left -= len(rows)
        yield from reversed(rows)
        end = min(row.completion_time for row in rows) - timedelta(seconds=60)


def expected_counts(spec: StatementSpec) -> Counter[str]:
    """Count the rows by kind (``EntryKind`` values) and ``FAILED`` for broken rows."""
    counts: Counter[str] = Counter()
    for row in generate_rows(spec):
        counts[row.kind.value if row.kind is not None else "FAILED"] += 1
    return counts


def family_b_truth(row: TruthRow) -> TruthRow:
    """Return what a reader must make of ``row`` when written as family B."""
    details = " ".join(_details_b(row).split())
    reason, _, rest = details.partition(" from ")
    party, _, account = rest.rpartition(" Acc. ") if " Acc. " in rest else (rest, "", "")
    return attrs.evolve(
        row, details=_details_b(row), reason_type_raw=reason if rest else details,
        other_party_info=party or None, account_number=account or None,
    )  # fmt: skip


def _details_b(row: TruthRow) -> str:
    if row.account_typed is None:
        return row.details
    word = "Pay Bill Online" if row.reason_type_raw == "Pay Bill Online" else "Pay Bill"
    return f"{word} from {row.other_party_info} Acc. {row.account_typed.strip()}"


# -- writing ----------------------------------------------------------------------


def _fmt_amount(value: Decimal | None, quirks: frozenset[Quirk], *, blank_zero: bool) -> str:
    if value is None:
        return "0.00" if blank_zero and Quirk.ZERO_FOR_BLANK in quirks else ""
    body = f"{abs(value):,.2f}" if Quirk.THOUSANDS in quirks else f"{abs(value):.2f}"
    if Quirk.KES_PREFIX in quirks:
        body = f"KES {body}"
    if value < 0:
        return f"({body})" if Quirk.PARENS_NEGATIVE in quirks else f"-{body}"
    return body


def _fmt_time(value: datetime, quirks: frozenset[Quirk], sheet: bool) -> Any:
    local = value.astimezone(KENYA_TZ).replace(tzinfo=None)
    if sheet and Quirk.DATE_CELLS in quirks:
        return local
    sep = "/" if Quirk.SLASH_DATES in quirks else "-"
    seconds = "" if Quirk.NO_SECONDS in quirks else ":%S"
    return local.strftime(f"%d{sep}%m{sep}%Y %H:%M{seconds}")


def _cells_a(row: TruthRow, quirks: frozenset[Quirk], sheet: bool) -> list[Any]:
    def amount(value: Decimal | None, blank_zero: bool) -> Any:
        if sheet and Quirk.NUMERIC_AMOUNTS in quirks:
            if value is not None:
                return float(value)
            return 0.0 if blank_zero and Quirk.ZERO_FOR_BLANK in quirks else ""
        return _fmt_amount(value, quirks, blank_zero=blank_zero)

    confirmed: Any = "true"
    if Quirk.UPPER_TRUE in quirks:
        confirmed = True if sheet else "TRUE"
    account: Any = row.account_typed or ""
    if Quirk.FLOAT_ACCOUNT in quirks and account.isdigit():
        account = float(account) if sheet else f"{float(account)!r}"
    cells = [
        row.receipt, _fmt_time(row.completion_time, quirks, sheet),
        _fmt_time(row.initiation_time, quirks, sheet), row.details, row.transaction_status,
        amount(row.paid_in, True), amount(row.withdrawn, True), amount(row.balance, False),
        confirmed, row.reason_type_raw, row.other_party_info or "", "", account,
    ]  # fmt: skip
    if Quirk.CURRENCY_COLUMN in quirks:
        cells.append("KES")
    if row.broken == "time":
        cells[1] = "31-02-2025 10:00:00"
    elif row.broken == "amount":
        cells[5] = "12x.50"
    elif row.broken == "receipt":
        cells[0] = ""
    return cells


def _preamble_a(spec: StatementSpec) -> list[list[Any]]:
    start = spec.start.astimezone(KENYA_TZ)
    end = spec.end.astimezone(KENYA_TZ)
    fmt = "%d-%m-%Y %H:%M:%S"
    return [
        ["Account Holder:", _HOLDER], ["Short Code:", spec.short_code],
        ["Account:", "Utility Account"],
        ["Time Period:", "From", start.strftime(fmt), "To", end.strftime(fmt)],
        ["Operator:", "jdoe", "Organization:", _HOLDER, "Date of Report:", end.strftime(fmt)],
        *([_totals(spec)] if spec.preamble_totals else []),
    ]  # fmt: skip


def _totals(spec: StatementSpec) -> list[str]:
    paid_in = withdrawn = Decimal("0.00")
    closing = opening = None
    for row in generate_rows(spec):
        if row.broken or row.kind is EntryKind.NOT_COMPLETED:
            continue
        closing = row.balance if closing is None else closing
        paid_in += row.paid_in or 0
        withdrawn += row.withdrawn or 0
        opening = row.balance - (row.paid_in or 0) - (row.withdrawn or 0)
    return [
        "Opening Balance:", f"{opening or 0:.2f}", "Closing Balance:", f"{closing or 0:.2f}",
        "Available Balance:", f"{closing or 0:.2f}", "Total Paid In:", f"{paid_in:.2f}",
        "Total Withdrawn:", f"{withdrawn:.2f}",
    ]  # fmt: skip


def _header_a(quirks: frozenset[Quirk]) -> list[str]:
    return [*HEADER_A, "Currency"] if Quirk.CURRENCY_COLUMN in quirks else list(HEADER_A)


def _a_rows(spec: StatementSpec, sheet: bool) -> Iterator[tuple[str, list[Any]]]:
    """Yield ("pre"|"header"|"blank"|"data", cells) in file order."""
    blank = random.Random(spec.seed + 7)
    blanks = Quirk.BLANK_ROWS in spec.quirks
    for index, line in enumerate(_preamble_a(spec)):
        yield "pre", line
        if blanks and index == 2:
            yield "blank", []
    yield "header", _header_a(spec.quirks)
    if blanks:
        yield "blank", [""] * 13
    for row in generate_rows(spec):
        yield "data", _cells_a(row, spec.quirks, sheet)
        if blanks and blank.random() < spec.blank_share:
            yield "blank", [] if blank.random() < 0.5 else [""] * 13


def _open_text(dest: str | os.PathLike[str] | IO[bytes], encoding: str) -> tuple[IO[str], bool]:
    if isinstance(dest, str | os.PathLike):
        return open(dest, "w", encoding=encoding, newline=""), True
    return io.TextIOWrapper(dest, encoding=encoding, newline=""), False


def _write_csv(dest: Any, spec: StatementSpec, lines: Iterator[tuple[str, list[Any]]],
               row_numbers: list[int] | None) -> None:  # fmt: skip
    encoding = "cp1252" if Quirk.CP1252 in spec.quirks else "utf-8"
    if Quirk.BOM in spec.quirks and encoding == "utf-8":
        encoding = "utf-8-sig"
    text, owned = _open_text(dest, encoding)
    line = 1
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        for what, cells in lines:
            if what == "data" and row_numbers is not None:
                row_numbers.append(line)
            writer.writerow(cells)
            line += 1 + sum(str(c).count("\n") for c in cells)
    finally:
        if owned:
            text.close()
        else:
            text.flush()
            text.detach()


def write_family_a_csv(
    spec: StatementSpec, dest: Any, *, row_numbers: list[int] | None = None
) -> None:
    """Write a family A CSV to a path or binary file; optionally record each data row's line."""
    _write_csv(dest, spec, _a_rows(spec, sheet=False), row_numbers)


def write_family_b_csv(
    spec: StatementSpec, dest: Any, *, row_numbers: list[int] | None = None
) -> None:
    """Write a family B CSV (no preamble, 7 columns, DD/MM/YYYY, thousands, 0.00)."""
    b_quirks = spec.quirks | {Quirk.THOUSANDS, Quirk.ZERO_FOR_BLANK, Quirk.SLASH_DATES}

    def lines() -> Iterator[tuple[str, list[Any]]]:
        yield "header", list(HEADER_B)
        for row in generate_rows(spec):
            cells = [row.receipt, _fmt_time(row.completion_time, b_quirks, False), _details_b(row),
                     row.transaction_status, _fmt_amount(row.paid_in, b_quirks, blank_zero=True),
                     _fmt_amount(row.withdrawn, b_quirks, blank_zero=True),
                     _fmt_amount(row.balance, b_quirks, blank_zero=False)]  # fmt: skip
            if row.broken:
                cells[{"time": 1, "amount": 4, "receipt": 0}[row.broken]] = (
                    "" if row.broken == "receipt" else "bad"
                )
            yield "data", cells

    _write_csv(dest, spec, lines(), row_numbers)


def write_family_a_xlsx(
    spec: StatementSpec, dest: Any, *, row_numbers: list[int] | None = None
) -> None:
    """Write a family A XLSX (a first "Summary" sheet, then the statement) with xlsxwriter."""
    import xlsxwriter

    book = xlsxwriter.Workbook(dest, {"constant_memory": True, "in_memory": False})
    try:
        book.add_worksheet("Summary").write(0, 0, "Statement for the period; see next sheet")
        sheet = book.add_worksheet("Statement")
        stamp = book.add_format(
            {"num_format": "dd/mm/yyyy hh:mm" if Quirk.NO_SECONDS in spec.quirks
             else "dd/mm/yyyy hh:mm:ss"}
        )  # fmt: skip
        for index, (what, cells) in enumerate(_a_rows(spec, sheet=True)):
            if what == "data" and row_numbers is not None:
                row_numbers.append(index + 1)
            for col, value in enumerate(cells):
                if isinstance(value, datetime):
                    sheet.write_datetime(index, col, value, stamp)
                elif isinstance(value, str):
                    if value:
                        sheet.write_string(index, col, value)
                else:
                    sheet.write(index, col, value)
    finally:
        book.close()


def write_family_a_xls(
    spec: StatementSpec, dest: Any, *, row_numbers: list[int] | None = None
) -> None:
    """Write a family A XLS (OLE2, sheet ``transaction``) with xlwt (at most 65 000 rows)."""
    import xlwt

    if spec.rows > 65000:
        raise ValueError("XLS holds at most 65 536 rows; generate fewer")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("transaction")
    stamp = xlwt.easyxf(num_format_str="dd/mm/yyyy hh:mm:ss")
    for index, (what, cells) in enumerate(_a_rows(spec, sheet=True)):
        if what == "data" and row_numbers is not None:
            row_numbers.append(index + 1)
        for col, value in enumerate(cells):
            if isinstance(value, datetime):
                sheet.write(index, col, value, stamp)
            elif value != "":
                sheet.write(index, col, value)
    book.save(dest)


# -- C2B confirmations --------------------------------------------------------------


def c2b_confirmations(
    spec: StatementSpec, share: float, *, seed: int = 0
) -> Iterator[dict[str, str]]:
    """Yield Daraja C2B confirmation bodies for ``share`` of the money-received rows."""
    rng = random.Random(spec.seed * 1000003 + seed)
    for row in generate_rows(spec):
        if row.kind is not EntryKind.RECEIVED or rng.random() >= share:
            continue
        assert row.paid_in is not None
        yield {
            "TransactionType": (
                "CustomerPayBillOnline" if row.reason_type_raw == "Pay Bill Online" else "Pay Bill"
            ),
            "TransID": row.receipt,
            "TransTime": row.completion_time.astimezone(KENYA_TZ).strftime("%Y%m%d%H%M%S"),
            "TransAmount": f"{row.paid_in:.2f}",
            "BusinessShortCode": spec.short_code,
            "BillRefNumber": row.account_typed or "",
            "InvoiceNumber": "",
            "OrgAccountBalance": f"{row.balance:.2f}",
            "ThirdPartyTransID": "",
            "MSISDN": hash_msisdn(row.msisdn) if row.msisdn else "",
            "FirstName": row.first_name,
            "MiddleName": row.middle_name,
            "LastName": row.last_name,
        }
