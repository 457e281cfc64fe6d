"""Account references (policy numbers): one normalisation used everywhere.

``BillRefNumber`` is whatever the customer typed (DARAJA.md, C2B): it is
stored as sent, and compared trimmed and case-insensitively. An STK
``AccountReference`` must be at most 12 alphanumeric characters (longer or odd
ones can be accepted by Daraja and then never prompt).
"""

from __future__ import annotations

import re

from mpesa_daraja_kit.errors import InvalidAccountReference

__all__ = [
    "RECEIPT_MAX_LENGTH",
    "account_key",
    "normalize_account_reference",
    "receipt_problem",
    "validate_stk_account_reference",
]

_ALNUM = re.compile(r"[A-Za-z0-9]+")


def normalize_account_reference(value: str | None) -> str:
    """Return ``value`` trimmed (empty string for None); the form shown and sent."""
    return (value or "").strip()


def account_key(value: str | None) -> str:
    """Return the comparison key for a reference: trimmed and case-folded upper."""
    return normalize_account_reference(value).upper()


def validate_stk_account_reference(value: str, *, max_length: int = 12) -> str:
    """Return the trimmed reference if Daraja's STK Push will take it.

    Raises:
        InvalidAccountReference: empty, too long, or not alphanumeric.
    """
    ref = normalize_account_reference(value)
    if not ref:
        raise InvalidAccountReference("account reference is empty; expected e.g. 'POL0012345'")
    if len(ref) > max_length:
        raise InvalidAccountReference(
            f"account reference {ref!r} has {len(ref)} characters; "
            f"M-Pesa Express accepts at most {max_length}"
        )
    if not _ALNUM.fullmatch(ref):
        raise InvalidAccountReference(
            f"account reference {ref!r} must contain only letters and digits"
        )
    return ref


RECEIPT_MAX_LENGTH = 50


def receipt_problem(value: str) -> str | None:
    """Return why ``value`` (already trimmed) is not an M-Pesa receipt, or None when it is.

    One rule for every source — the STK callback's ``MpesaReceiptNumber``, the C2B
    ``TransID`` and a statement's ``Receipt No.`` — so one payment can never be two
    rows because one source sent ``"SGA7RT61SV "`` and another ``"SGA7RT61SV"``.
    """
    if not value:
        return "it is empty"
    if len(value) > RECEIPT_MAX_LENGTH or any(c.isspace() for c in value):
        return f"expected up to {RECEIPT_MAX_LENGTH} characters without spaces, e.g. 'SGA7RT61SV'"
    return None
