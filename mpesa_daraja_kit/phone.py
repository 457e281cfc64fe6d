"""Kenyan mobile numbers (MSISDNs): normalise once, hash for C2B matching.

Daraja wants ``2547XXXXXXXX`` / ``2541XXXXXXXX``. C2B confirmations now carry
the SHA-256 hex of that 12-digit string (or a mask such as ``2547 ***** 126``)
instead of the number (DARAJA.md, C2B), so every comparison by phone between an
STK request and a C2B payment compares hashes; a mask matches nothing.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from mpesa_daraja_kit.errors import InvalidPhoneNumber

__all__ = [
    "MsisdnKind",
    "classify_msisdn",
    "hash_msisdn",
    "is_hashed_msisdn",
    "is_masked_msisdn",
    "mask_msisdn",
    "matching_hash",
    "normalize_msisdn",
]

_SEPARATORS = re.compile(r"[\s\-().]")
_FORMS = (
    # (pattern on the digits after separators are removed, prefix to add)
    (re.compile(r"\+?254([71]\d{8})"), "254"),
    (re.compile(r"0([71]\d{8})"), "254"),
    (re.compile(r"([71]\d{8})"), "254"),
)
_HASH = re.compile(r"[0-9a-fA-F]{64}")


class MsisdnKind(StrEnum):
    """What a C2B ``MSISDN`` value turned out to be."""

    PLAIN = "plain"
    HASHED = "hashed"
    MASKED = "masked"
    UNKNOWN = "unknown"


def normalize_msisdn(value: str | int) -> str:
    """Return ``value`` as ``2547XXXXXXXX`` or ``2541XXXXXXXX``.

    Accepts ``07XXXXXXXX``, ``01XXXXXXXX``, ``+2547…``, ``2547…``, ``2541…``,
    ``7XXXXXXXX`` and ``1XXXXXXXX``, with spaces, dashes, dots or brackets.

    Raises:
        InvalidPhoneNumber: for anything else (the message never echoes more
            than the shape of the input).
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidPhoneNumber(f"phone number must be text or digits, got {type(value).__name__}")
    text = _SEPARATORS.sub("", str(value).strip())
    for pattern, prefix in _FORMS:
        match = pattern.fullmatch(text)
        if match:
            return prefix + match.group(1)
    raise InvalidPhoneNumber(
        "phone number is not a Kenyan mobile number; expected 07XXXXXXXX, 01XXXXXXXX, "
        f"+2547XXXXXXXX or 2547XXXXXXXX (got {len(text)} characters)"
    )


def hash_msisdn(value: str | int) -> str:
    """Return the lowercase SHA-256 hex of the normalised number, as Daraja sends it."""
    return hashlib.sha256(normalize_msisdn(value).encode("ascii")).hexdigest()


def is_hashed_msisdn(value: str) -> bool:
    """Tell whether ``value`` is a 64-hex-digit SHA-256 (Daraja's hashed MSISDN)."""
    return bool(_HASH.fullmatch(value.strip()))


def is_masked_msisdn(value: str) -> bool:
    """Tell whether ``value`` is masked with ``*`` (``2547 ***** 126``, ``25471****234``)."""
    return "*" in value


def classify_msisdn(value: str | None) -> MsisdnKind:
    """Classify a C2B ``MSISDN``: a plain number, a hash, a mask, or unknown."""
    if not value or not value.strip():
        return MsisdnKind.UNKNOWN
    if is_hashed_msisdn(value):
        return MsisdnKind.HASHED
    if is_masked_msisdn(value):
        return MsisdnKind.MASKED
    try:
        normalize_msisdn(value)
    except InvalidPhoneNumber:
        return MsisdnKind.UNKNOWN
    return MsisdnKind.PLAIN


def matching_hash(value: str | None) -> str | None:
    """Return the hash to compare a C2B ``MSISDN`` by, or None when it cannot match.

    A plain number is hashed, a hash is lower-cased, a mask or anything else
    gives None (a mask matches nothing).
    """
    kind = classify_msisdn(value)
    if kind is MsisdnKind.PLAIN:
        assert value is not None
        return hash_msisdn(value)
    if kind is MsisdnKind.HASHED:
        assert value is not None
        return value.strip().lower()
    return None


def mask_msisdn(value: str | None) -> str:
    """Return a loggable form of a phone value: ``2547******49``; hashes are shortened."""
    if not value:
        return ""
    text = str(value).strip()
    if is_hashed_msisdn(text):
        return f"sha256:{text[:8].lower()}…"
    if len(text) <= 6:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 6) + text[-2:]
