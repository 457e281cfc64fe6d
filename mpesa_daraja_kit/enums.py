"""The kit's domain enums and the mappings from Daraja's and statements' words to them.

Names and values of the first three enums come from the system the original
plan was written for, so its data maps one to one (docs/architecture.md#tables-and-names).
"""

from __future__ import annotations

import functools
from enum import StrEnum

__all__ = [
    "CallbackKind",
    "CallbackOutcome",
    "Direction",
    "EntryKind",
    "PaymentSource",
    "StatementReasonType",
    "StkPushStatus",
    "UploadStatus",
    "entry_key",
    "reason_type_from_c2b",
    "reason_type_from_statement",
    "stk_status_from_result_code",
]


class PaymentSource(StrEnum):
    """Where a payment row came from first."""

    IPN = "IPN"
    STATEMENT = "STATEMENT"
    STK_CALLBACK = "STK_CALLBACK"


class StkPushStatus(StrEnum):
    """State of one STK Push request."""

    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        """Tell whether the status is final (anything but PENDING)."""
        return self is not StkPushStatus.PENDING


class StatementReasonType(StrEnum):
    """Reason type of a payment row (statement ``Reason Type`` or C2B ``TransactionType``)."""

    PayBill_STK = "PayBill_STK"
    Ratiba = "Ratiba"
    Paybill_MobileApp = "Paybill_MobileApp"
    PayBill_Fuliza_STK = "PayBill_Fuliza_STK"
    PayBill_Fuliza_Online = "PayBill_Fuliza_Online"
    Withdrawal = "Withdrawal"
    Unmapped = "Unmapped"


class EntryKind(StrEnum):
    """What a payment row is: money received, or one of the statement-only movements."""

    RECEIVED = "RECEIVED"
    CHARGE = "CHARGE"
    SWEEP = "SWEEP"
    OTHER = "OTHER"
    NOT_COMPLETED = "NOT_COMPLETED"


class Direction(StrEnum):
    """Money into (paid in) or out of (withdrawn) the account."""

    IN = "IN"
    OUT = "OUT"


class UploadStatus(StrEnum):
    """State of a statement upload."""

    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


class CallbackKind(StrEnum):
    """Which public endpoint a callback body arrived at."""

    STK_CALLBACK = "STK_CALLBACK"
    C2B_CONFIRMATION = "C2B_CONFIRMATION"
    C2B_VALIDATION = "C2B_VALIDATION"


class CallbackOutcome(StrEnum):
    """What became of a stored callback body."""

    RECEIVED = "RECEIVED"  # stored, not processed yet
    APPLIED = "APPLIED"  # changed state
    DUPLICATE = "DUPLICATE"  # already known: changed nothing
    WAITING = "WAITING"  # valid, but its STK request is not stored yet
    FAILED = "FAILED"  # could not be parsed or applied; waits for a fix and a replay
    REFUSED = "REFUSED"  # refused by a guard (not Safaricom)


_STATEMENT_REASONS = {
    "pay utility": StatementReasonType.PayBill_STK,
    "standing order pay bill": StatementReasonType.Ratiba,
    "pay bill online": StatementReasonType.Paybill_MobileApp,
    "pay utility with od via stk": StatementReasonType.PayBill_Fuliza_STK,
    "pay utility with od online": StatementReasonType.PayBill_Fuliza_Online,
    "utility account to organization settlement account": StatementReasonType.Withdrawal,
}

_C2B_TYPES = {
    "pay bill": StatementReasonType.PayBill_STK,
    "buy goods": StatementReasonType.PayBill_STK,
    "customerpaybillonline": StatementReasonType.Paybill_MobileApp,
}


def _fold(text: str | None) -> str:
    return " ".join((text or "").split()).lower()


def reason_type_from_statement(reason: str | None) -> StatementReasonType:
    """Map a statement ``Reason Type`` (trimmed, any case) to the enum; unknown → Unmapped."""
    return _STATEMENT_REASONS.get(_fold(reason), StatementReasonType.Unmapped)


def reason_type_from_c2b(transaction_type: str | None) -> StatementReasonType:
    """Map a C2B ``TransactionType`` to the enum; unknown → Unmapped."""
    return _C2B_TYPES.get(_fold(transaction_type), StatementReasonType.Unmapped)


_CANCELLED = {"1032", "1031"}
_EXPIRED = {"1037", "1019", "1036"}


def stk_status_from_result_code(result_code: str | int) -> StkPushStatus:
    """Map an STK ``ResultCode`` (number or string, e.g. ``SFC_IC0003``) to a final status.

    ``0`` completed; ``1032``/``1031`` cancelled by the user; ``1037``/``1019``/``1036``
    expired or timed out; anything else failed (DARAJA.md, STK callback).
    """
    code = str(result_code).strip()
    if code == "0":
        return StkPushStatus.COMPLETED
    if code in _CANCELLED:
        return StkPushStatus.CANCELLED
    if code in _EXPIRED:
        return StkPushStatus.EXPIRED
    return StkPushStatus.FAILED


@functools.lru_cache(maxsize=4096)  # few distinct reasons; called for every statement row
def entry_key(kind: EntryKind, direction: Direction, reason: str | None) -> str:
    """Return the second half of a payment row's identity (the first is the receipt).

    Money received has the empty key, so there is exactly one such row per
    receipt whatever its source. Other statement rows (charge twins, sweeps,
    internal transfer pairs) share receipts and are keyed by
    (receipt, direction, reason) — STATEMENTS.md, "The receipt is not unique".
    """
    if kind is EntryKind.RECEIVED:
        return ""
    return f"{direction.value}|{kind.value}|{_fold(reason)}"[:160]
