"""Parse one statement cell: amounts, Kenyan times, booleans and IDs, from text or Excel cells.

These run once per cell on files of a million rows, so the common forms take
a fast path without regular expressions and every pattern is compiled once.
A cell from a spreadsheet arrives as the Python value python-calamine gives:
``str``, ``float``/``int`` (number cells), ``bool``, ``datetime``/``date``
(date-typed cells), ``time``/``timedelta`` (time-only or duration cells).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from mpesa_daraja_kit.clock import KENYA_TZ
from mpesa_daraja_kit.errors import InvalidAmount, InvalidTimestamp

__all__ = [
    "Cell",
    "amount_cell",
    "bool_cell",
    "id_cell",
    "kenyan_to_utc",
    "text_cell",
    "time_cell",
]

Cell = object
"""A cell as a reader gives it: ``str`` from CSV; str, number, bool or date from a sheet."""

_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_EAT_OFFSET = timedelta(hours=3)
# Africa/Nairobi has been UTC+3 without daylight saving since 1960; older times
# (never in a statement, but possible in a typo) go through the real zone.
_FIXED_OFFSET_SINCE = datetime(1960, 1, 1)  # noqa: DTZ001 - compared with naive local times

# ``(1,234.00)``, ``KES 60.00``, ``KES (60.00)``, ``Ksh. 60``: sign or brackets, a
# optional currency word, digits with or without thousands separators, up to 2 dp.
_AMOUNT = re.compile(
    r"(?P<sign>-)?\s*(?:(?:KES|KSHS?)\.?\s*)?(?P<open>\()?\s*(?:(?:KES|KSHS?)\.?\s*)?(?P<sign2>-)?\s*"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d{0,2})?\s*(?P<close>\))?",
    re.IGNORECASE | re.ASCII,
)
# Day first (``04-10-2025 13:02:10``, ``4/10/2025 13:02``, optional AM/PM) or ISO
# year first (``2025-10-04 13:02:10``) after some spreadsheet re-saves.
_DAY_FIRST = re.compile(
    r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*([AaPp][Mm])?)?",
    re.ASCII,
)
_YEAR_FIRST = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?",
    re.ASCII,
)
_FLOAT_ID = re.compile(r"\d+\.0+", re.ASCII)
_HOUR_BASES: dict[str, datetime] = {}
_OFFSETS = [timedelta(seconds=n) for n in range(3600)]


def text_cell(value: Cell) -> str:
    """Return a cell as text: numbers without a spurious ``.0``, blanks as ``""``."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%d-%m-%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%d-%m-%Y")
    return str(value)


def id_cell(value: Cell) -> str | None:
    """Return an ID (receipt, account number) as text, never with a float's ``.0``.

    XLS/XLSX give numeric-looking IDs back as floats (``850060.0``) and tools
    that re-export them write the ``.0`` into CSV text (STATEMENTS.md, A/C No.);
    leading zeros lost that way cannot be recovered. Blank gives None.
    """
    if isinstance(value, str):
        if not value or value.isspace():
            return None
        if value[-1] == "0" and "." in value and _FLOAT_ID.fullmatch(value.strip()):
            return value.strip().split(".", 1)[0]
        return value
    if value is None:
        return None
    text = text_cell(value)
    return text or None


def bool_cell(value: Cell) -> bool | None:
    """Return ``Balance Confirmed`` (``true``, ``TRUE``, a boolean cell) as a bool or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in ("true", "yes", "1"):
            return True
        if folded in ("false", "no", "0"):
            return False
        return None
    if isinstance(value, int | float):
        return bool(value)
    return None


def amount_cell(value: Cell, *, field: str, zero_is_blank: bool = False) -> Decimal | None:
    """Return an amount cell as a 2-dp Decimal, or None when blank.

    Accepts ``1234.00``, ``1,234.00``, ``-60.00``, ``(60.00)`` (negative),
    ``KES 60.00`` and number cells. With ``zero_is_blank`` a zero is None:
    ``Paid In``/``Withdrawn`` write ``0.00`` for "nothing" (family B).

    Raises:
        InvalidAmount: the cell holds something that is not an amount.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        body = text[1:] if text[0] == "-" else text
        dot = body.find(".")
        if body.isascii() and (
            body.isdigit()
            or (dot > 0 and len(body) - dot <= 3 and body.replace(".", "", 1).isdigit())
        ):
            amount = Decimal(text)  # plain ``123.45`` / ``-20.00``: the fast path
        else:
            amount = _amount_text(text, field)
    elif value is None:
        return None
    elif isinstance(value, bool):
        raise InvalidAmount(f"{field} {value!r} is a boolean; expected an amount such as 1500.00")
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = _amount_float(value, field)
    elif isinstance(value, Decimal):
        amount = value
    else:
        raise InvalidAmount(
            f"{field} is a {type(value).__name__} cell; expected an amount such as 1500.00"
        )
    if zero_is_blank and not amount:
        return None
    return amount.quantize(_CENT)


def _amount_text(text: str, field: str) -> Decimal:
    match = _AMOUNT.fullmatch(text)
    if match is None or bool(match["open"]) != bool(match["close"]):
        raise InvalidAmount(
            f"{field} {text[:40]!r} is not an amount; expected e.g. 1,234.00, (60.00) or KES 60.00"
        )
    signs = (match["sign"] is not None) + (match["sign2"] is not None) + (match["open"] is not None)
    if signs > 1:
        raise InvalidAmount(f"{field} {text[:40]!r} has more than one minus sign")
    try:
        amount = Decimal(match["int"].replace(",", "") + (match["frac"] or ""))
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        raise InvalidAmount(f"{field} {text[:40]!r} is not an amount") from None
    return -amount if signs else amount


def _amount_float(value: float, field: str) -> Decimal:
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidAmount(f"{field} {value!r} is not a finite amount")
    # A number cell holds a binary float; its shortest repr is what the user
    # typed (1500.0, 13465.5). Sums done in Excel may carry noise in the 12th
    # digit, so round to cents when the noise is far below a cent.
    amount = Decimal(repr(value))
    cents = amount.quantize(_CENT)
    if abs(amount - cents) > Decimal("0.000001"):
        raise InvalidAmount(f"{field} {value!r} has more than two decimal places")
    return cents


def kenyan_to_utc(local: datetime) -> datetime:
    """Return a naive Kenyan (EAT) wall-clock time as an aware UTC datetime."""
    if local >= _FIXED_OFFSET_SINCE:
        return (local - _EAT_OFFSET).replace(tzinfo=UTC)
    return local.replace(tzinfo=KENYA_TZ).astimezone(UTC)


def time_cell(value: Cell, *, field: str, allow_date_only: bool = False) -> datetime:
    """Return a statement time (Kenyan local) as an aware UTC datetime.

    Text is day first: ``DD-MM-YYYY HH:MM:SS``, ``DD/MM/YYYY HH:MM`` (seconds
    dropped by an Excel re-save), optional AM/PM; ISO ``YYYY-MM-DD HH:MM:SS``
    is accepted too. A date-typed cell gives a ``datetime`` (a ``date`` when
    its time is midnight). A bare number is refused: only a date-typed cell's
    serial can be trusted to be a date (STATEMENTS.md, Times).

    Raises:
        InvalidTimestamp: the cell is blank or not one of these forms.
    """
    if isinstance(value, str):
        return _time_text(value, field, allow_date_only)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        return kenyan_to_utc(value)
    if isinstance(value, date):
        return kenyan_to_utc(datetime(value.year, value.month, value.day))  # noqa: DTZ001
    if value is None:
        raise InvalidTimestamp(f"{field} is blank; expected DD-MM-YYYY HH:MM:SS")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise InvalidTimestamp(
            f"{field} is the number {value!r} in a cell not formatted as a date; "
            "expected a date cell or DD-MM-YYYY HH:MM:SS text"
        )
    raise InvalidTimestamp(
        f"{field} is a {type(value).__name__} cell; expected DD-MM-YYYY HH:MM:SS"
    )


def _hour_base(prefix: str) -> datetime | None:
    """Return ``DD-MM-YYYY HH`` (Kenyan) as aware UTC, or None when it is not that form."""
    sep = prefix[2]
    if sep not in "-/" or prefix[5] != sep or prefix[10] != " ":
        return None
    parts = (prefix[0:2], prefix[3:5], prefix[6:10], prefix[11:13])
    if not all(part.isdigit() and part.isascii() for part in parts):
        return None
    try:
        local = datetime(int(parts[2]), int(parts[1]), int(parts[0]), int(parts[3]))  # noqa: DTZ001
    except ValueError:
        return None  # the slow path words the error
    if len(_HOUR_BASES) > 100_000:
        _HOUR_BASES.clear()
    base = _HOUR_BASES[prefix] = kenyan_to_utc(local)
    return base


def _time_text(text: str, field: str, allow_date_only: bool) -> datetime:
    # Fast path for the Org Portal's exact ``DD-MM-YYYY HH:MM:SS`` / ``DD/MM/YYYY …``:
    # the date and hour are parsed once per hour of the statement, the rest is
    # an offset from a table (a million rows cover only a few thousand hours).
    if (
        len(text) == 19
        and text[13] == ":"
        and text[16] == ":"
        and text.isascii()
        and text[14:16].isdigit()
        and text[17:19].isdigit()
    ):
        base = _HOUR_BASES.get(text[:13])
        if base is None:
            base = _hour_base(text[:13])
        mm, ss = int(text[14:16]), int(text[17:19])
        if base is not None and mm < 60 and ss < 60:
            return base + _OFFSETS[mm * 60 + ss]
    stripped = text.strip()
    match = _DAY_FIRST.fullmatch(stripped)
    if match is not None:
        day, month, year, hour, minute, second, half = match.groups()
    else:
        match = _YEAR_FIRST.fullmatch(stripped)
        if match is None:
            if not stripped:
                raise InvalidTimestamp(f"{field} is blank; expected DD-MM-YYYY HH:MM:SS")
            raise InvalidTimestamp(
                f"{field} {stripped[:40]!r} is not a time; expected DD-MM-YYYY HH:MM:SS"
            )
        year, month, day, hour, minute, second = match.groups()
        half = None
    if hour is None and not allow_date_only:
        raise InvalidTimestamp(f"{field} {stripped!r} has no time; expected DD-MM-YYYY HH:MM:SS")
    h = int(hour or 0)
    if half is not None:
        if not 1 <= h <= 12:
            raise InvalidTimestamp(f"{field} {stripped!r} has hour {h} with {half}")
        h = h % 12 + (12 if half.lower() == "pm" else 0)
    try:
        local = datetime(  # noqa: DTZ001 - Kenyan wall clock, converted below
            int(year), int(month), int(day), h, int(minute or 0), int(second or 0)
        )
    except ValueError as exc:
        raise InvalidTimestamp(f"{field} {stripped!r} is not a real time: {exc}") from None
    return kenyan_to_utc(local)
