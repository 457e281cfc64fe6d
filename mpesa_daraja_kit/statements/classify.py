"""Classify statement rows (money received, charge twin, sweep, other, not completed).

The only rows that stand for a C2B payment are ``Completed`` rows with
``Paid In > 0`` that are not internal transfers (STATEMENTS.md, "The receipt
is not unique"); everything else is keyed by (receipt, direction, reason).
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

from mpesa_daraja_kit.enums import (
    Direction,
    EntryKind,
    StatementReasonType,
    reason_type_from_c2b,
    reason_type_from_statement,
)

__all__ = [
    "classify",
    "family_b_reason",
    "is_charge",
    "is_internal_transfer",
    "split_details",
    "split_party",
]

_ZERO = Decimal(0)

# Words of own-account movements: the daily sweep ``Utility Account to
# Organization Settlement Account``, working/utility/charges account moves,
# and withdrawals to the organisation's bank.
_INTERNAL_PREFIXES = (
    "utility account to",
    "working account to",
    "charges account to",
    "organization settlement account to",
    "organisation settlement account to",
    "transfer from utility account",
    "transfer from working account",
    "transfer of funds from",
    "move funds from",
)
_INTERNAL_WORDS = ("settlement account", "to utility account", "to working account")
_WITHDRAW_TARGETS = ("bank", "organization", "organisation")


def _fold(text: str) -> str:
    return " ".join(text.split()).lower()


# Every internal phrase holds one of these words; a payment's Details ("Pay Bill
# from … Acc. …") holds none, so most rows skip the full check.
_HINT = re.compile(r"account|withdraw|transfer|funds", re.IGNORECASE)


def is_internal_transfer(reason: str, details: str) -> bool:
    """Tell whether the Reason Type or Details name a move between the business's own accounts."""
    verdict = _reason_verdict(reason)
    if verdict is not None:
        return verdict
    return bool(_HINT.search(details)) and _internal_text(details)


@functools.lru_cache(maxsize=1024)
def _reason_verdict(reason: str) -> bool | None:
    """Decide from the Reason Type alone when it can: internal, a collection, or unknown (None).

    Reason Type has a handful of values, so each is decided once.
    """
    if _internal_text(reason):
        return True
    if reason_type_from_statement(reason) not in (
        StatementReasonType.Unmapped,
        StatementReasonType.Withdrawal,
    ) or _fold(reason) in ("pay bill", "pay bill online"):
        return False  # a customer collection (Pay Utility, Pay Bill Online, …)
    return None


def _internal_text(text: str) -> bool:
    folded = _fold(text)
    if not folded:
        return False
    if folded.startswith(_INTERNAL_PREFIXES) or any(w in folded for w in _INTERNAL_WORDS):
        return True
    return "withdraw" in folded and any(t in folded for t in _WITHDRAW_TARGETS)


def is_charge(details: str, other_party: str | None) -> bool:
    """Tell whether a withdrawal row is a tariff charge (``Pay Bill Charge``, party ``SP``)."""
    if other_party is not None and other_party.strip().upper() == "SP":
        return True
    folded = details.lower()
    return "charge" in folded and "discharge" not in folded


def classify(
    status: str,
    paid_in: Decimal | None,
    withdrawn: Decimal | None,
    reason: str,
    details: str,
    other_party: str | None,
) -> tuple[EntryKind, Direction]:
    """Return the row's kind and direction (internal in/out pairs are found by the reader).

    NOT_COMPLETED unless ``Transaction Status`` is Completed; RECEIVED for money
    paid in that is not an own-account move; CHARGE for a tariff withdrawal;
    SWEEP for own-account moves (settlement sweeps, withdrawals to the
    organisation); OTHER for the rest (payouts to customers, zero rows).
    """
    if paid_in is not None and paid_in > _ZERO:
        direction = Direction.IN
    elif withdrawn or (paid_in is not None and paid_in < _ZERO):
        direction = Direction.OUT
    else:
        direction = Direction.IN
    if status != "Completed" and status.strip().lower() != "completed":
        return EntryKind.NOT_COMPLETED, direction
    if direction is Direction.IN:
        if paid_in is None or paid_in <= _ZERO:
            return EntryKind.OTHER, direction
        if is_internal_transfer(reason, details):
            return EntryKind.SWEEP, direction
        return EntryKind.RECEIVED, direction
    if is_charge(details, other_party):
        return EntryKind.CHARGE, direction
    if is_internal_transfer(reason, details):
        return EntryKind.SWEEP, direction
    return EntryKind.OTHER, direction


def split_party(info: str | None) -> tuple[str | None, str | None]:
    """Split ``Other Party Info`` into (phone as shown, name).

    ``25472****108 - JOHN **** DOE`` → (``25472****108``, ``JOHN **** DOE``);
    ``600100 - ACME LTD`` (a business payer) → (None, ``ACME LTD``); ``SP`` → (None, None).
    """
    if not info:
        return None, None
    left, sep, right = info.partition(" - ")
    if not sep:
        left, sep, right = info.partition("-")
        if not sep:
            return None, None
    left = left.strip()
    name = right.strip() or None
    compact = left.replace(" ", "")
    digits = compact.replace("*", "")
    if digits.isdigit() and ("*" in compact or len(compact) >= 9) and compact[:1] in "20+":
        return left, name
    return None, name


def split_details(details: str) -> tuple[str, str | None, str | None]:
    """Split family B ``Details`` into (reason, other party, account).

    ``Pay Bill from 2547****111 - ALICE WANJIRU Acc. POL0077001`` →
    (``Pay Bill``, ``2547****111 - ALICE WANJIRU``, ``POL0077001``).
    Details without `` from `` give (details, None, None).
    """
    text = " ".join(details.split())
    reason, sep, rest = text.partition(" from ")
    if not sep:
        return text, None, None
    party, acc_sep, account = rest.rpartition(" Acc. ")
    if not acc_sep:
        party, acc_sep, account = rest.rpartition(" Acc.")
    if not acc_sep:
        return reason, rest or None, None
    return reason, party.strip() or None, account.strip() or None


def family_b_reason(reason: str) -> StatementReasonType:
    """Map a reason taken from family B ``Details`` to the enum.

    ``Pay Bill Online`` is a statement Reason Type; plain ``Pay Bill`` is the
    C2B ``TransactionType`` wording for the same money
    (docs/architecture.md#tables-and-names), so the C2B table is the fallback.
    """
    mapped = reason_type_from_statement(reason)
    if mapped is StatementReasonType.Unmapped:
        return reason_type_from_c2b(reason)
    return mapped
