"""Identifiers and outgoing payloads in Daraja's exact shapes.

Shapes follow the real payloads in ``tests/fixtures/daraja``: the STK
callback's ``ResultCode`` is a number and its ``CallbackMetadata`` appears only
on success (``Balance`` without ``Value``); STK query answers carry
``ResultCode`` as a string; C2B bodies are flat and every value is a string.
"""

from __future__ import annotations

import json
import random
import string
from datetime import datetime
from decimal import Decimal
from typing import Any

from mpesa_daraja_kit.clock import KENYA_TZ, format_daraja_timestamp
from mpesa_daraja_kit.money import format_amount
from mpesa_daraja_kit.phone import hash_msisdn
from mpesa_daraja_kit.simulator.config import RESULTS, MsisdnMode, Outcome

__all__ = [
    "IdFactory",
    "c2b_body",
    "dumps_daraja",
    "masked_msisdn",
    "stk_callback_body",
    "stk_query_body",
]

_RECEIPT_ALPHABET = string.ascii_uppercase + string.digits
_DAY_LETTERS = "123456789ABCDEFGHIJKLMNOPQRSTUV"  # day 1…9, then A = 10 … V = 31


class IdFactory:
    """Make Daraja-shaped identifiers from one (optionally seeded) random source."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._sequence = 0

    def request_id(self) -> str:
        """Return a ``requestId`` / ``MerchantRequestID`` such as ``98371-32721597-1``."""
        self._sequence += 1
        return f"{self._rng.randint(1000, 99999)}-{self._rng.randint(1_000_000, 99_999_999)}-1"

    def checkout_request_id(self, when: datetime, phone_number: str) -> str:
        """Return ``ws_CO_`` + Kenyan ``DDMMYYYYHHMMSS`` + milliseconds + the phone's digits."""
        local = when.astimezone(KENYA_TZ)
        millis = local.microsecond // 1000
        return f"ws_CO_{local:%d%m%Y%H%M%S}{millis:03d}{phone_number[3:]}"

    def receipt_number(self, when: datetime) -> str:
        """Return a receipt such as ``SGA7RT61SV``: year, month and day letters + 7 characters.

        Year letter: 2017 ``L`` … 2024 ``S``, 2025 ``T`` (STATEMENTS.md, Receipt numbers).
        """
        local = when.astimezone(KENYA_TZ)
        year = chr(ord("L") + (local.year - 2017) % 26)
        month = chr(ord("A") + local.month - 1)
        day = _DAY_LETTERS[local.day - 1]
        tail = "".join(self._rng.choice(_RECEIPT_ALPHABET) for _ in range(7))
        return f"{year}{month}{day}{tail}"

    def originator_conversation_id(self) -> str:
        """Return an ``OriginatorCoversationID`` such as ``7619-37765134-1``."""
        return self.request_id()


def masked_msisdn(phone_number: str) -> str:
    """Return the masked form C2B payloads use: ``2547 ***** 149``."""
    return f"{phone_number[:4]} ***** {phone_number[-3:]}"


def payer_msisdn(phone_number: str, mode: MsisdnMode) -> str:
    """Return the payer as the configured C2B ``MSISDN`` form."""
    if mode is MsisdnMode.PLAIN:
        return phone_number
    if mode is MsisdnMode.MASKED:
        return masked_msisdn(phone_number)
    return hash_msisdn(phone_number)


def stk_callback_body(
    *,
    merchant_request_id: str,
    checkout_request_id: str,
    outcome: Outcome,
    amount: int,
    receipt_number: str | None,
    transaction_date: datetime | None,
    phone_number: str,
) -> dict[str, Any]:
    """Return the STK callback body; metadata only when the payment succeeded."""
    code, desc = RESULTS[outcome]
    callback: dict[str, Any] = {
        "MerchantRequestID": merchant_request_id,
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": code,
        "ResultDesc": desc,
    }
    if outcome is Outcome.SUCCESS:
        assert receipt_number is not None
        assert transaction_date is not None
        callback["CallbackMetadata"] = {
            "Item": [
                # Written as 1.00 like real callbacks: receivers must parse it as Decimal.
                {"Name": "Amount", "Value": Decimal(amount).quantize(Decimal("0.01"))},
                {"Name": "MpesaReceiptNumber", "Value": receipt_number},
                {"Name": "Balance"},
                {
                    "Name": "TransactionDate",
                    "Value": int(format_daraja_timestamp(transaction_date)),
                },
                {"Name": "PhoneNumber", "Value": int(phone_number)},
            ]
        }
    return {"Body": {"stkCallback": callback}}


def stk_query_body(
    *, merchant_request_id: str, checkout_request_id: str, outcome: Outcome
) -> dict[str, Any]:
    """Return the STK query answer for a finished prompt (``ResultCode`` as a string)."""
    code, desc = RESULTS[outcome]
    return {
        "ResponseCode": "0",
        # Daraja's own spelling, "successsfully" with three s.
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": merchant_request_id,
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": str(code),
        "ResultDesc": desc,
    }


def c2b_body(
    *,
    transaction_type: str,
    trans_id: str,
    trans_time: datetime,
    amount: int,
    short_code: str,
    bill_ref_number: str,
    org_account_balance: Decimal | None,
    msisdn: str,
    names: tuple[str, str, str],
) -> dict[str, Any]:
    """Return a C2B validation (no balance) or confirmation body: flat, all strings."""
    first, middle, last = names
    return {
        "TransactionType": transaction_type,
        "TransID": trans_id,
        "TransTime": format_daraja_timestamp(trans_time),
        "TransAmount": format_amount(Decimal(amount)),
        "BusinessShortCode": short_code,
        "BillRefNumber": bill_ref_number,
        "InvoiceNumber": "",
        "OrgAccountBalance": ""
        if org_account_balance is None
        else format_amount(org_account_balance),
        "ThirdPartyTransID": "",
        "MSISDN": msisdn,
        "FirstName": first,
        "MiddleName": middle,
        "LastName": last,
    }


def dumps_daraja(body: Any) -> bytes:
    """Serialise ``body`` as JSON, writing Decimals as exact numbers (``1.00``)."""
    decimals: list[Decimal] = []

    def _default(value: object) -> str:
        if isinstance(value, Decimal):
            decimals.append(value)
            return f"\x00{len(decimals) - 1}\x00"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = json.dumps(body, default=_default, separators=(",", ":"))
    for index, value in enumerate(decimals):
        text = text.replace(f'"\\u0000{index}\\u0000"', f"{value:f}")
    return text.encode()
