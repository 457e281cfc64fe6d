"""Time: aware UTC inside the kit, Kenyan local time (EAT, UTC+3) at the Daraja edge.

Daraja's ``Timestamp``, ``TransTime`` and ``TransactionDate`` are
``YYYYMMDDHHmmss`` on the 24-hour clock in Africa/Nairobi time, as text or as
a JSON number. A malformed value is an error, never a silent "now".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mpesa_daraja_kit.errors import InvalidTimestamp

__all__ = [
    "KENYA_TZ",
    "Clock",
    "ensure_aware_utc",
    "format_daraja_timestamp",
    "parse_daraja_timestamp",
    "utc_now",
]

KENYA_TZ = ZoneInfo("Africa/Nairobi")
_DIGITS14 = re.compile(r"\d{14}")

Clock = Callable[[], datetime]
"""A zero-argument callable returning an aware UTC ``datetime`` (injectable in tests)."""


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def ensure_aware_utc(value: datetime, *, field: str = "time") -> datetime:
    """Return ``value`` converted to UTC; refuse naive datetimes."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTimestamp(f"{field} {value.isoformat()} has no time zone; expected aware")
    return value.astimezone(UTC)


def parse_daraja_timestamp(value: str | int, *, field: str = "timestamp") -> datetime:
    """Parse Daraja's ``YYYYMMDDHHmmss`` (Kenyan time) into an aware UTC datetime.

    Raises:
        InvalidTimestamp: when ``value`` is not 14 digits or not a real time.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidTimestamp(
            f"{field} must be YYYYMMDDHHmmss text or number, got {type(value).__name__}"
        )
    text = str(value).strip()
    if not _DIGITS14.fullmatch(text):
        raise InvalidTimestamp(f"{field} {text[:40]!r} is not YYYYMMDDHHmmss")
    try:
        local = datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
            tzinfo=KENYA_TZ,
        )
    except ValueError as exc:
        raise InvalidTimestamp(f"{field} {text!r} is not a real time: {exc}") from None
    return local.astimezone(UTC)


def format_daraja_timestamp(value: datetime) -> str:
    """Format an aware datetime as Daraja's ``YYYYMMDDHHmmss`` in Kenyan time (24-hour)."""
    return ensure_aware_utc(value).astimezone(KENYA_TZ).strftime("%Y%m%d%H%M%S")
