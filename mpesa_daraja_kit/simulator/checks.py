"""Validate raw Daraja request bodies the way Daraja does, field by field.

The simulator is the kit's *peer*: it reads the raw JSON itself and never
shares parsing code with ``mpesa_daraja_kit.wire`` or ``.client``, so a bug
there cannot hide here. Every refusal is a :class:`DarajaFault` carrying
Daraja's own error code and message (DARAJA.md, "Errors anywhere").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import attrs

from mpesa_daraja_kit.clock import parse_daraja_timestamp
from mpesa_daraja_kit.config import banned_url_words
from mpesa_daraja_kit.errors import InvalidTimestamp
from mpesa_daraja_kit.simulator.config import SimulatorConfig

__all__ = [
    "BAD_REQUEST",
    "OVERLOADED",
    "C2BSimulateRequest",
    "DarajaFault",
    "Registration",
    "StkPushRequest",
    "basic_credentials",
    "check_c2b_simulate",
    "check_credentials",
    "check_register",
    "check_stk_push",
    "check_stk_query",
    "parse_json_body",
]

BAD_REQUEST = "400.002.02"
OVERLOADED = "500.001.1001"
INVALID_PAYLOAD = "400.002.05"

STK_PUSH_FIELDS = frozenset(
    {
        "BusinessShortCode",
        "Password",
        "Timestamp",
        "TransactionType",
        "Amount",
        "PartyA",
        "PartyB",
        "PhoneNumber",
        "CallBackURL",
        "AccountReference",
        "TransactionDesc",
    }
)
STK_QUERY_FIELDS = frozenset({"BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"})
REGISTER_FIELDS = frozenset({"ShortCode", "ResponseType", "ConfirmationURL", "ValidationURL"})
SIMULATE_FIELDS = frozenset({"ShortCode", "CommandID", "Amount", "Msisdn", "BillRefNumber"})

STK_TRANSACTION_TYPES = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")
# Daraja's limits for M-Pesa Express, whatever the kit's own settings say.
AMOUNT_MIN, AMOUNT_MAX = 1, 250_000
ACCOUNT_REFERENCE_MAX, TRANSACTION_DESC_MAX = 12, 13

_SHORT_CODE = re.compile(r"\d{5,7}")
_MSISDN = re.compile(r"254[17]\d{8}")
_DIGITS = re.compile(r"\d+")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class DarajaFault(Exception):
    """A refusal in Daraja's shape: ``{"requestId", "errorCode", "errorMessage"}``."""

    def __init__(
        self,
        error_code: str,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{error_code} {message}")
        self.error_code = error_code
        self.message = message
        self.request_id = request_id
        # Daraja's HTTP status is roughly the first part of the code (DARAJA.md).
        self.status = status if status is not None else int(error_code.split(".")[0])


def invalid(field: str) -> DarajaFault:
    """Return Daraja's "Bad Request - Invalid <Field>" fault (the field is only in the text)."""
    return DarajaFault(BAD_REQUEST, f"Bad Request - Invalid {field}")


@attrs.frozen(kw_only=True)
class StkPushRequest:
    """An STK push that passed every check."""

    short_code: str
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    phone_number: str
    callback_url: str
    account_reference: str
    transaction_desc: str


@attrs.frozen(kw_only=True)
class Registration:
    """C2B URLs registered for one short code."""

    short_code: str
    response_type: str
    confirmation_url: str
    validation_url: str


@attrs.frozen(kw_only=True)
class C2BSimulateRequest:
    """A customer payment to a paybill or till, as the simulate API describes it."""

    short_code: str
    command_id: str
    amount: int
    msisdn: str
    bill_ref_number: str


def parse_json_body(content_type: str | None, raw: bytes) -> dict[str, Any]:
    """Return the request body as a dict, refusing non-JSON like Daraja.

    Numbers are parsed as ``Decimal`` so ``1.5`` and ``1.50`` are seen exactly.
    """
    if not content_type or content_type.split(";")[0].strip().lower() != "application/json":
        raise DarajaFault(INVALID_PAYLOAD, "Invalid Request Payload")
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise DarajaFault(INVALID_PAYLOAD, "Invalid Request Payload") from None
    if not isinstance(body, dict):
        raise DarajaFault(INVALID_PAYLOAD, "Invalid Request Payload")
    return body


# -- single fields -----------------------------------------------------------------------


def _text(body: dict[str, Any], field: str, *, numeric: bool = False) -> str:
    """Return a field as text; numeric fields may come as JSON numbers too."""
    value = body.get(field)
    if isinstance(value, bool) or value is None:
        raise invalid(field)
    if numeric and isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise invalid(field)
    return value.strip() if numeric else value


def _short_code(body: dict[str, Any], field: str) -> str:
    value = _text(body, field, numeric=True)
    if not _SHORT_CODE.fullmatch(value):
        raise invalid(field)
    return value


def _msisdn(body: dict[str, Any], field: str) -> str:
    # Daraja wants 2547XXXXXXXX or 2541XXXXXXXX; 07…, +254… and 7… are refused.
    value = _text(body, field, numeric=True)
    if not _MSISDN.fullmatch(value):
        raise invalid(field)
    return value


def _whole_amount(body: dict[str, Any], field: str = "Amount") -> int:
    value = body.get(field)
    if isinstance(value, bool):
        raise invalid(field)
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value.strip()):
            raise invalid(field)
        value = int(value.strip())
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise invalid(field)  # M-Pesa Express takes whole shillings only
        value = int(value)
    if not isinstance(value, int) or not AMOUNT_MIN <= value <= AMOUNT_MAX:
        raise invalid(field)
    return value


def _callback_url(value: str, field: str, config: SimulatorConfig) -> str:
    parts = urlsplit(value.strip())
    if not parts.netloc or parts.scheme not in ("http", "https"):
        raise invalid(field)
    if parts.scheme == "http" and not (
        config.allow_plain_http or (parts.hostname or "") in _LOCAL_HOSTS
    ):
        raise invalid(field)  # Daraja needs a public https URL; http only to this machine
    return value.strip()


def _no_unknown_fields(
    body: dict[str, Any], known: frozenset[str], config: SimulatorConfig
) -> None:
    if config.reject_unknown_fields:
        for name in sorted(set(body) - known):
            raise invalid(name)


# -- credentials -------------------------------------------------------------------------


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Return ``(key, secret)`` from an HTTP Basic header, or None."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, secret = decoded.partition(":")
    return (key, secret) if sep else None


def check_credentials(
    body: dict[str, Any],
    *,
    short_code: str,
    passkey: str,
    config: SimulatorConfig,
    now: datetime,
) -> str:
    """Check ``BusinessShortCode``, ``Timestamp`` and ``Password``; return the short code.

    Daraja checks the password against the timestamp sent, so a timestamp built
    in UTC or on a 12-hour clock still yields a matching password; the
    simulator refuses a timestamp more than ``timestamp_tolerance`` from Kenyan
    now so that mistake shows up locally rather than as odd production times.
    """
    code = _short_code(body, "BusinessShortCode")
    stamp = _text(body, "Timestamp", numeric=True)
    try:
        when = parse_daraja_timestamp(stamp, field="Timestamp")
    except InvalidTimestamp:
        raise invalid("Timestamp") from None
    password = _text(body, "Password")
    if not config.strict_validation:
        return code
    if abs(when - now) > timedelta(seconds=config.timestamp_tolerance):
        raise invalid("Timestamp")
    if code != short_code:
        raise DarajaFault(OVERLOADED, "Merchant does not exist")
    try:
        decoded = base64.b64decode(password.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise DarajaFault(OVERLOADED, "Wrong credentials") from None
    if decoded != f"{short_code}{passkey}{stamp}".encode():
        raise DarajaFault(OVERLOADED, "Wrong credentials")
    return code


# -- whole requests ----------------------------------------------------------------------


def check_stk_push(
    body: dict[str, Any],
    *,
    short_code: str,
    passkey: str,
    config: SimulatorConfig,
    now: datetime,
) -> StkPushRequest:
    """Validate an STK push body (DARAJA.md, STK Push) and return its values."""
    _no_unknown_fields(body, STK_PUSH_FIELDS, config)
    transaction_type = _text(body, "TransactionType")
    if transaction_type not in STK_TRANSACTION_TYPES:
        raise invalid("TransactionType")
    amount = _whole_amount(body)
    party_a = _msisdn(body, "PartyA")
    party_b = _short_code(body, "PartyB")
    phone = _msisdn(body, "PhoneNumber")
    callback_url = _callback_url(_text(body, "CallBackURL"), "CallBackURL", config)
    reference = _text(body, "AccountReference")
    if not reference.strip() or len(reference) > ACCOUNT_REFERENCE_MAX:
        raise invalid("AccountReference")
    desc = body.get("TransactionDesc")
    if not isinstance(desc, str) or len(desc) > TRANSACTION_DESC_MAX:
        raise invalid("TransactionDesc")
    code = check_credentials(body, short_code=short_code, passkey=passkey, config=config, now=now)
    return StkPushRequest(
        short_code=code,
        transaction_type=transaction_type,
        amount=amount,
        party_a=party_a,
        party_b=party_b,
        phone_number=phone,
        callback_url=callback_url,
        account_reference=reference,
        transaction_desc=desc,
    )


def reference_prompts(reference: str) -> bool:
    """Tell whether a phone would show a prompt for this reference.

    Daraja accepts references with odd characters and then never prompts
    (DARAJA.md, STK Push), so the simulator answers those with a timeout.
    """
    return bool(_ALNUM.fullmatch(reference))


def check_stk_query(
    body: dict[str, Any],
    *,
    short_code: str,
    passkey: str,
    config: SimulatorConfig,
    now: datetime,
) -> str:
    """Validate an STK query body; return its ``CheckoutRequestID``."""
    _no_unknown_fields(body, STK_QUERY_FIELDS, config)
    checkout_id = body.get("CheckoutRequestID")
    if not isinstance(checkout_id, str) or not checkout_id.strip():
        raise invalid("CheckoutRequestID")
    check_credentials(body, short_code=short_code, passkey=passkey, config=config, now=now)
    return checkout_id.strip()


def check_register(body: dict[str, Any], *, config: SimulatorConfig) -> Registration:
    """Validate a C2B register-URL body (DARAJA.md, C2B)."""
    _no_unknown_fields(body, REGISTER_FIELDS, config)
    code = _short_code(body, "ShortCode")
    # Exactly "Completed" or "Cancelled": other spellings are refused.
    response_type = body.get("ResponseType")
    if response_type not in ("Completed", "Cancelled"):
        raise invalid("ResponseType")
    urls = {}
    for field in ("ConfirmationURL", "ValidationURL"):
        url = _callback_url(_text(body, field), field, config)
        if config.banned_words_check and banned_url_words(url):
            # Production refuses URLs containing mpesa, safaricom, exec, cmd, sql, query.
            raise invalid(field)
        urls[field] = url
    return Registration(
        short_code=code,
        response_type=str(response_type),
        confirmation_url=urls["ConfirmationURL"],
        validation_url=urls["ValidationURL"],
    )


def check_c2b_simulate(body: dict[str, Any], *, config: SimulatorConfig) -> C2BSimulateRequest:
    """Validate a C2B simulate body (sandbox only in real Daraja)."""
    _no_unknown_fields(body, SIMULATE_FIELDS, config)
    code = _short_code(body, "ShortCode")
    command_id = _text(body, "CommandID")
    if command_id not in STK_TRANSACTION_TYPES:
        raise invalid("CommandID")
    amount = _whole_amount(body)
    msisdn = _msisdn(body, "Msisdn")
    bill_ref = body.get("BillRefNumber")
    if bill_ref is None and command_id == "CustomerBuyGoodsOnline":
        bill_ref = ""  # a till payment has no account number
    if not isinstance(bill_ref, str | int) or isinstance(bill_ref, bool):
        raise invalid("BillRefNumber")
    bill_ref = str(bill_ref)
    if command_id == "CustomerPayBillOnline" and not bill_ref.strip():
        raise invalid("BillRefNumber")
    return C2BSimulateRequest(
        short_code=code,
        command_id=command_id,
        amount=amount,
        msisdn=msisdn,
        bill_ref_number=bill_ref,
    )
