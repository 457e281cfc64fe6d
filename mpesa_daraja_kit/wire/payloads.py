"""Every Daraja request, response and callback as a frozen attrs class with Pythonic names.

Wire names (``TransID``, ``CallBackURL``, the misspelled
``OriginatorCoversationID``) live only in :mod:`mpesa_daraja_kit.wire.converter`;
build and read these classes with Python names and let the converter
translate. Inbound classes are parsed tolerantly by the converter; outbound
classes validate their field types on construction so that what is sent is
exactly what Daraja documents (strict outbound).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from mpesa_daraja_kit.clock import parse_daraja_timestamp
from mpesa_daraja_kit.enums import StkPushStatus, stk_status_from_result_code
from mpesa_daraja_kit.errors import InvalidAmount, InvalidTimestamp, PayloadError
from mpesa_daraja_kit.money import parse_amount
from mpesa_daraja_kit.phone import mask_msisdn

__all__ = [
    "C2B_REJECTION_CODES",
    "C2BConfirmationAnswer",
    "C2BPayment",
    "C2BRegisterRequest",
    "C2BRegisterResponse",
    "C2BSimulateRequest",
    "C2BSimulateResponse",
    "C2BValidationAnswer",
    "DarajaErrorBody",
    "OAuthToken",
    "StkCallback",
    "StkPushRequest",
    "StkPushResponse",
    "StkQueryRequest",
    "StkQueryResponse",
]

_text = attrs.validators.instance_of(str)
_whole = attrs.validators.instance_of(int)


def _hidden(value: object) -> str:
    return "'***'" if value else "''"


def _masked(value: object) -> str:
    # Phone numbers are personal data: logs and reprs show them masked
    # (docs/architecture.md#personal-data-in-logs).
    return "None" if value is None else repr(mask_msisdn(str(value)))


# -- OAuth ----------------------------------------------------------------------------


@attrs.frozen
class OAuthToken:
    """The OAuth answer; ``expires_in`` arrives as text (``"3599"``) or a number."""

    access_token: str = attrs.field(repr=_hidden)
    expires_in: int


# -- STK Push -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StkPushRequest:
    """The body of ``POST /mpesa/stkpush/v1/processrequest`` (outbound, strict).

    ``password`` is base64(short code + passkey + timestamp), so it reveals the
    passkey: it never appears in ``repr``.
    """

    business_short_code: str = attrs.field(validator=_text)
    password: str = attrs.field(validator=_text, repr=_hidden)
    timestamp: str = attrs.field(validator=_text)
    transaction_type: str = attrs.field(validator=_text)
    amount: int = attrs.field(validator=_whole)
    party_a: str = attrs.field(validator=_text, repr=_masked)
    party_b: str = attrs.field(validator=_text)
    phone_number: str = attrs.field(validator=_text, repr=_masked)
    callback_url: str = attrs.field(validator=_text)
    account_reference: str = attrs.field(validator=_text)
    transaction_desc: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class StkPushResponse:
    """Daraja's synchronous answer to an STK push: ``ResponseCode "0"`` means accepted, not paid."""

    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str = ""
    customer_message: str = ""

    @property
    def accepted(self) -> bool:
        """Tell whether Daraja accepted the request (the prompt is on its way)."""
        return self.response_code == "0"


@attrs.frozen(kw_only=True)
class StkCallback:
    """The STK callback posted to ``CallBackURL``, with its metadata items typed.

    ``CallbackMetadata`` only comes on success; its items are found by
    ``Name`` (order and presence vary) — DARAJA.md, STK callback.
    """

    merchant_request_id: str
    checkout_request_id: str
    # A number here, text in STK Query and sometimes non-numeric (SFC_IC0003): keep text.
    result_code: str
    result_desc: str = ""
    amount: Decimal | None = None
    receipt_number: str | None = None
    transaction_date: datetime | None = None
    phone_number: str | None = attrs.field(default=None, repr=_masked)
    balance: Decimal | None = None

    @property
    def succeeded(self) -> bool:
        """Tell whether the customer paid (``ResultCode`` 0)."""
        return self.result_code == "0"

    @property
    def status(self) -> StkPushStatus:
        """Return the final STK status this callback reports."""
        return stk_status_from_result_code(self.result_code)


@attrs.frozen(kw_only=True)
class StkQueryRequest:
    """The body of ``POST /mpesa/stkpushquery/v1/query`` (outbound, strict)."""

    business_short_code: str = attrs.field(validator=_text)
    password: str = attrs.field(validator=_text, repr=_hidden)
    timestamp: str = attrs.field(validator=_text)
    checkout_request_id: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class StkQueryResponse:
    """A final STK Query answer (a pending one is an error body, see the client)."""

    response_code: str
    response_description: str = ""
    merchant_request_id: str = ""
    checkout_request_id: str = ""
    result_code: str | None = None
    result_desc: str | None = None

    @property
    def status(self) -> StkPushStatus | None:
        """Return the final STK status, or None when the answer carries no ``ResultCode``."""
        if self.result_code is None:
            return None
        return stk_status_from_result_code(self.result_code)


# -- C2B ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class C2BRegisterRequest:
    """The body of ``POST /mpesa/c2b/{v1,v2}/registerurl`` (outbound, strict)."""

    short_code: str = attrs.field(validator=_text)
    response_type: str = attrs.field(validator=attrs.validators.in_(("Completed", "Cancelled")))
    confirmation_url: str = attrs.field(validator=_text)
    validation_url: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class C2BRegisterResponse:
    """Daraja's answer to URL registration (wire key misspelled ``OriginatorCoversationID``)."""

    originator_conversation_id: str = ""
    response_code: str = ""
    response_description: str = ""


@attrs.frozen(kw_only=True)
class C2BSimulateRequest:
    """The body of ``POST /mpesa/c2b/v1/simulate`` (sandbox and simulator only)."""

    short_code: str = attrs.field(validator=_text)
    command_id: str = attrs.field(
        validator=attrs.validators.in_(("CustomerPayBillOnline", "CustomerBuyGoodsOnline"))
    )
    amount: int = attrs.field(validator=_whole)
    msisdn: str = attrs.field(validator=_text, repr=_masked)
    bill_ref_number: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class C2BSimulateResponse:
    """Daraja's answer to a C2B simulation (same shape as registration's)."""

    originator_conversation_id: str = ""
    response_code: str = ""
    response_description: str = ""


def _empty_if_none(value: str | None) -> str:
    return "" if value is None else value


def _c2b_text() -> Any:
    return attrs.field(default="", converter=_empty_if_none)


@attrs.frozen(kw_only=True)
class C2BPayment:
    """A C2B validation or confirmation body: every value is text, ``null`` becomes ``""``.

    Only structure is checked here; :attr:`amount`, :attr:`transaction_time`
    and :attr:`balance` interpret the text and raise :class:`PayloadError`
    naming the wire field.
    """

    transaction_type: str = _c2b_text()
    trans_id: str = _c2b_text()
    trans_time: str = _c2b_text()
    trans_amount: str = _c2b_text()
    business_short_code: str = _c2b_text()
    bill_ref_number: str = _c2b_text()
    invoice_number: str = _c2b_text()
    org_account_balance: str = _c2b_text()
    third_party_trans_id: str = _c2b_text()
    msisdn: str = attrs.field(default="", converter=_empty_if_none, repr=_masked)
    first_name: str = attrs.field(default="", converter=_empty_if_none, repr=False)
    middle_name: str = attrs.field(default="", converter=_empty_if_none, repr=False)
    last_name: str = attrs.field(default="", converter=_empty_if_none, repr=False)

    @property
    def amount(self) -> Decimal:
        """Return ``TransAmount`` as a Decimal (``"1.00"`` → ``Decimal("1.00")``)."""
        try:
            value = parse_amount(self.trans_amount, field="TransAmount")
        except InvalidAmount as exc:
            raise PayloadError(exc.message, field="TransAmount") from None
        assert value is not None
        return value

    @property
    def transaction_time(self) -> datetime:
        """Return ``TransTime`` (Kenyan ``YYYYMMDDHHmmss``) as an aware UTC datetime."""
        try:
            return parse_daraja_timestamp(self.trans_time, field="TransTime")
        except InvalidTimestamp as exc:
            raise PayloadError(exc.message, field="TransTime") from None

    @property
    def balance(self) -> Decimal | None:
        """Return ``OrgAccountBalance`` as a Decimal, or None when empty (validation)."""
        try:
            return parse_amount(
                self.org_account_balance, field="OrgAccountBalance", allow_blank=True
            )
        except InvalidAmount as exc:
            raise PayloadError(exc.message, field="OrgAccountBalance") from None


C2B_REJECTION_CODES: dict[str, str] = {
    "C2B00011": "Invalid MSISDN",
    "C2B00012": "Invalid Account Number",
    "C2B00013": "Invalid Amount",
    "C2B00014": "Invalid KYC Details",
    "C2B00015": "Invalid Shortcode",
    "C2B00016": "Other Error",
}
"""Daraja's validation rejection codes and their standard descriptions."""


def _check_validation_code(
    instance: C2BValidationAnswer, attribute: attrs.Attribute[str], value: str
) -> None:
    if value != "0" and value not in C2B_REJECTION_CODES:
        raise ValueError(
            f"ResultCode {value!r} is not a C2B validation answer; expected '0' or one of "
            + ", ".join(C2B_REJECTION_CODES)
        )


@attrs.frozen(kw_only=True)
class C2BValidationAnswer:
    """The answer to a validation request: ``"0"`` accepts, ``C2B000xx`` rejects."""

    result_code: str = attrs.field(default="0", validator=_check_validation_code)
    result_desc: str = "Accepted"
    third_party_trans_id: str | None = None

    ACCEPTED: ClassVar[str] = "0"

    @classmethod
    def accept(cls, third_party_trans_id: str | None = None) -> C2BValidationAnswer:
        """Return the accepting answer (optionally echoing your own transaction id)."""
        return cls(third_party_trans_id=third_party_trans_id)

    @classmethod
    def reject(cls, code: str, description: str | None = None) -> C2BValidationAnswer:
        """Return a rejection with ``code`` (``C2B00011`` … ``C2B00016``)."""
        return cls(
            result_code=code,
            result_desc=description or C2B_REJECTION_CODES.get(code, "Rejected"),
        )

    @property
    def accepted(self) -> bool:
        """Tell whether this answer accepts the payment."""
        return self.result_code == self.ACCEPTED


@attrs.frozen(kw_only=True)
class C2BConfirmationAnswer:
    """The answer to a confirmation: ``{"ResultCode": 0, "ResultDesc": "Accepted"}``."""

    result_code: int = attrs.field(default=0, validator=_whole)
    result_desc: str = "Accepted"


# -- errors ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DarajaErrorBody:
    """Daraja's error body ``{"requestId", "errorCode", "errorMessage"}`` (any API)."""

    request_id: str = ""
    error_code: str = ""
    error_message: str = ""
