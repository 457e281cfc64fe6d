"""A small org-portal statement (family A CSV) for today, to try the upload with.

It holds the premiums this host already received (their receipts are known to
the kit: matched, not stored twice) and one payment for each unpaid policy
(receipts the kit has never seen: gaps the upload fills).
"""

from __future__ import annotations

import csv
import io
import secrets
import string
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from mpesa_daraja_kit.clock import KENYA_TZ
from sample_host.insurer import Policy, Premium

__all__ = ["HEADER", "sample_statement"]

HEADER = (
    "Receipt No.",
    "Completion Time",
    "Initiation Time",
    "Details",
    "Transaction Status",
    "Paid In",
    "Withdrawn",
    "Balance",
    "Balance Confirmed",
    "Reason Type",
    "Other Party Info",
    "Linked Transaction ID",
    "A/C No.",
)
_ALPHABET = string.ascii_uppercase + string.digits


def _receipt() -> str:
    # Receipts are 10 upper-case letters and digits; real ones start with a year letter.
    return "U" + "".join(secrets.choice(_ALPHABET) for _ in range(9))


def _masked(phone: str, name: str) -> str:
    first, _, last = name.upper().partition(" ")
    return f"{phone[:5]}****{phone[-3:]} - {first} **** {last}".strip()


def _time(value: datetime) -> str:
    return value.astimezone(KENYA_TZ).strftime("%d-%m-%Y %H:%M:%S")


def sample_statement(
    policies: Sequence[Policy],
    premiums: Sequence[Premium],
    *,
    short_code: str,
    now: datetime,
) -> tuple[str, bytes]:
    """Return ``(file name, CSV bytes)`` of a statement for today."""
    by_number = {p.number: p for p in policies}
    rows: list[tuple[datetime, str, Decimal, str, str, str]] = []
    for premium in premiums:
        policy = by_number.get(premium.policy_number)
        if policy is None:
            continue
        rows.append(
            (
                premium.received_at,
                premium.receipt_number,
                premium.amount,
                policy.customer_phone,
                policy.customer_name,
                policy.payment_account_number,
            )
        )
    for index, policy in enumerate(p for p in policies if not p.paid_at):
        when = now - timedelta(minutes=30 * (index + 1))
        due = max(policy.premium - policy.received, Decimal("1.00"))
        rows.append(
            (
                when,
                _receipt(),
                due,
                policy.customer_phone,
                policy.customer_name,
                policy.payment_account_number,
            )
        )
    rows.sort(key=lambda r: r[0])
    balance = Decimal("0.00")
    lines: list[list[str]] = []
    for when, receipt, amount, phone, name, account in rows:
        balance += amount
        party = _masked(phone, name)
        lines.append(
            [
                receipt,
                _time(when),
                _time(when),
                f"Pay Bill from {party} Acc. {account}",
                "Completed",
                f"{amount:.2f}",
                "",
                f"{balance:.2f}",
                "true",
                "Pay Utility",
                party,
                "",
                account,
            ]
        )
    lines.reverse()  # newest first, as the portal writes them
    local = now.astimezone(KENYA_TZ)
    day = local.strftime("%d-%m-%Y")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Account Holder:", "SAMPLE INSURANCE LIMITED"])
    writer.writerow(["Short Code:", short_code])
    writer.writerow(["Account:", "Utility Account"])
    writer.writerow(["Time Period:", "From", f"{day} 00:00:00", "To", f"{day} 23:59:59"])
    writer.writerow(
        [
            "Operator:",
            "operator",
            "Organization:",
            "SAMPLE INSURANCE LIMITED",
            "Date of Report:",
            local.strftime("%d-%m-%Y %H:%M:%S"),
        ]
    )
    total = f"{balance:.2f}"
    writer.writerow(
        [
            "Opening Balance:",
            "0.00",
            "Closing Balance:",
            total,
            "Available Balance:",
            total,
            "Total Paid In:",
            total,
            "Total Withdrawn:",
            "0.00",
        ]
    )
    writer.writerow(HEADER)
    writer.writerows(lines)
    name = f"ORG_{short_code}_Utility Account_Completed_{local.strftime('%Y%m%d%H%M%S')}.csv"
    return name, out.getvalue().encode("utf-8")
