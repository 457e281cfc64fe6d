"""The one cattrs converter between Daraja's JSON and the classes in :mod:`.payloads`.

``WIRE_NAMES`` is the explicit table of wire names: automatic case conversion
would turn ``TransID`` into ``trans_i_d`` and cannot know that Daraja spells
``OriginatorCoversationID`` without the "n" or calls the same number
``MSISDN`` in a C2B body and ``Msisdn`` in a simulation request.

Inbound (:func:`structure`) is tolerant: unknown keys are ignored, text where
a number is expected (``"expires_in": "3599"``) and numbers where text is
expected (``"ResultCode": 0``) are both accepted. Outbound
(:func:`unstructure`) is strict: exactly the documented keys, in the
documented types. Every parsing failure is one :class:`PayloadError` naming
the wire field and the problem. JSON is always read with
``parse_float=Decimal`` so that ``"Amount": 1.00`` never becomes a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from mpesa_daraja_kit.clock import format_daraja_timestamp, parse_daraja_timestamp
from mpesa_daraja_kit.errors import (
    ErrorCode,
    InvalidAmount,
    InvalidTimestamp,
    MpesaKitError,
    PayloadError,
)
from mpesa_daraja_kit.money import parse_amount
from mpesa_daraja_kit.reference import receipt_problem
from mpesa_daraja_kit.wire.payloads import (
    C2BConfirmationAnswer,
    C2BPayment,
    C2BRegisterRequest,
    C2BRegisterResponse,
    C2BSimulateRequest,
    C2BSimulateResponse,
    C2BValidationAnswer,
    DarajaErrorBody,
    OAuthToken,
    StkCallback,
    StkPushRequest,
    StkPushResponse,
    StkQueryRequest,
    StkQueryResponse,
)
from mpesa_daraja_kit.wire.primitives import (
    decimal_number,
    receipt_text,
    receipt_text_or_empty,
    text,
    text_or_empty,
    whole_number,
)

__all__ = [
    "WIRE_NAMES",
    "converter",
    "load_json",
    "parse_c2b_payment",
    "parse_stk_callback",
    "structure",
    "unstructure",
]

T = TypeVar("T")

_STK_BODY = {
    "merchant_request_id": "MerchantRequestID",
    "checkout_request_id": "CheckoutRequestID",
}
_STK_AUTH = {
    "business_short_code": "BusinessShortCode",
    "password": "Password",
    "timestamp": "Timestamp",
}
_ANSWER = {"result_code": "ResultCode", "result_desc": "ResultDesc"}
_C2B_ACK = {
    # Daraja's own spelling, without the "n" (DARAJA.md, C2B register).
    "originator_conversation_id": "OriginatorCoversationID",
    "response_code": "ResponseCode",
    "response_description": "ResponseDescription",
}

WIRE_NAMES: dict[type, dict[str, str]] = {
    OAuthToken: {"access_token": "access_token", "expires_in": "expires_in"},
    StkPushRequest: {
        **_STK_AUTH,
        "transaction_type": "TransactionType",
        "amount": "Amount",
        "party_a": "PartyA",
        "party_b": "PartyB",
        "phone_number": "PhoneNumber",
        "callback_url": "CallBackURL",
        "account_reference": "AccountReference",
        "transaction_desc": "TransactionDesc",
    },
    StkPushResponse: {
        **_STK_BODY,
        "response_code": "ResponseCode",
        "response_description": "ResponseDescription",
        "customer_message": "CustomerMessage",
    },
    StkQueryRequest: {**_STK_AUTH, "checkout_request_id": "CheckoutRequestID"},
    StkQueryResponse: {
        "response_code": "ResponseCode",
        "response_description": "ResponseDescription",
        **_STK_BODY,
        **_ANSWER,
    },
    C2BRegisterRequest: {
        "short_code": "ShortCode",
        "response_type": "ResponseType",
        "confirmation_url": "ConfirmationURL",
        "validation_url": "ValidationURL",
    },
    C2BRegisterResponse: _C2B_ACK,
    C2BSimulateRequest: {
        "short_code": "ShortCode",
        "command_id": "CommandID",
        "amount": "Amount",
        "msisdn": "Msisdn",
        "bill_ref_number": "BillRefNumber",
    },
    C2BSimulateResponse: _C2B_ACK,
    C2BPayment: {
        "transaction_type": "TransactionType",
        "trans_id": "TransID",
        "trans_time": "TransTime",
        "trans_amount": "TransAmount",
        "business_short_code": "BusinessShortCode",
        "bill_ref_number": "BillRefNumber",
        "invoice_number": "InvoiceNumber",
        "org_account_balance": "OrgAccountBalance",
        "third_party_trans_id": "ThirdPartyTransID",
        "msisdn": "MSISDN",
        "first_name": "FirstName",
        "middle_name": "MiddleName",
        "last_name": "LastName",
    },
    C2BValidationAnswer: {**_ANSWER, "third_party_trans_id": "ThirdPartyTransID"},
    C2BConfirmationAnswer: _ANSWER,
    DarajaErrorBody: {
        "request_id": "requestId",
        "error_code": "errorCode",
        "error_message": "errorMessage",
    },
    # The flat part of Body.stkCallback; its metadata items are read by Name below.
    StkCallback: {**_STK_BODY, **_ANSWER},
}
"""Python attribute → Daraja key, per class. The only place wire names are written."""

# Inbound keys seen spelled otherwise than in WIRE_NAMES (accepted, never sent).
_INBOUND_ALIASES: dict[type, dict[str, str]] = {
    C2BRegisterResponse: {"OriginatorConversationID": "OriginatorCoversationID"},
    C2BSimulateResponse: {"OriginatorConversationID": "OriginatorCoversationID"},
}


# -- the converter ----------------------------------------------------------------------


def _build_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=True)
    conv.register_structure_hook(str, text)
    conv.register_structure_hook(int, whole_number)
    conv.register_structure_hook(Decimal, decimal_number)
    conv.register_unstructure_hook(Decimal, lambda value: value)
    for cls, names in WIRE_NAMES.items():
        if cls is StkCallback:
            continue
        renames = {attr: override(rename=wire) for attr, wire in names.items()}
        in_overrides = dict(renames)
        if cls is C2BPayment:
            in_overrides = {
                attr: override(
                    rename=wire,
                    struct_hook=receipt_text_or_empty if attr == "trans_id" else text_or_empty,
                )
                for attr, wire in names.items()
            }
        conv.register_structure_hook(
            cls,
            make_dict_structure_fn(cls, conv, **in_overrides),  # type: ignore[arg-type]
        )
        out_overrides = dict(renames)
        if cls is C2BValidationAnswer:
            # ThirdPartyTransID is optional in the answer: omitted rather than sent as null.
            out_overrides["third_party_trans_id"] = override(
                rename=names["third_party_trans_id"], omit_if_default=True
            )
        conv.register_unstructure_hook(
            cls,
            make_dict_unstructure_fn(cls, conv, **out_overrides),  # type: ignore[arg-type]
        )
    conv.register_structure_hook(StkCallback, _structure_stk_callback)
    conv.register_unstructure_hook(StkCallback, _unstructure_stk_callback)
    return conv


def _field_error(cls: type, exc: BaseException) -> PayloadError:
    """Turn cattrs' nested validation errors into one PayloadError naming the wire field."""
    path: list[str] = []
    leaf: BaseException = exc
    while isinstance(leaf, ClassValidationError) and leaf.exceptions:
        inner = leaf.exceptions[0]
        for note in getattr(inner, "__notes__", []):
            if isinstance(note, AttributeValidationNote):
                path.append(WIRE_NAMES.get(cls, {}).get(note.name, note.name))
        leaf = inner
    field = ".".join(path) or cls.__name__
    if isinstance(leaf, PayloadError):
        return leaf
    if isinstance(leaf, KeyError):
        return PayloadError(
            f"{cls.__name__}: {field} is missing", field=field, code=ErrorCode.PAYLOAD_MISSING_FIELD
        )
    reason = leaf.message if isinstance(leaf, MpesaKitError) else str(leaf)
    return PayloadError(f"{cls.__name__}: {field} {reason}", field=field)


def load_json(body: bytes | str | Mapping[str, Any], *, what: str = "body") -> dict[str, Any]:
    """Return ``body`` as a JSON object, decoding numbers with a fraction as Decimal.

    Raises:
        PayloadError: ``payload_not_json`` when the body is not a JSON object.
    """
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: "[[[[…]]]]" nested thousands deep (found by tests/fuzz).
        raise PayloadError(
            f"{what} is not JSON; expected a JSON object", code=ErrorCode.PAYLOAD_NOT_JSON
        ) from None
    if not isinstance(data, dict):
        raise PayloadError(
            f"{what} is JSON {type(data).__name__}; expected a JSON object",
            code=ErrorCode.PAYLOAD_NOT_JSON,
        )
    return data


def structure(data: bytes | str | Mapping[str, Any], cls: type[T]) -> T:
    """Parse Daraja JSON (bytes, text or an already-decoded dict) into ``cls``.

    Raises:
        PayloadError: naming the wire field and what is wrong with its value.
    """
    obj = load_json(data, what=cls.__name__)
    for alias, wire in _INBOUND_ALIASES.get(cls, {}).items():
        if wire not in obj and alias in obj:
            obj[wire] = obj[alias]
    try:
        return converter.structure(obj, cls)
    except PayloadError:
        raise
    except ClassValidationError as exc:
        raise _field_error(cls, exc) from None
    except (ValueError, TypeError) as exc:  # attrs validators on construction
        raise PayloadError(f"{cls.__name__}: {exc}") from None


def unstructure(obj: Any) -> dict[str, Any]:
    """Return ``obj`` as the exact JSON-ready dict Daraja expects (wire names)."""
    if not attrs.has(type(obj)):
        raise TypeError(f"{type(obj).__name__} is not a Daraja wire class")
    data: dict[str, Any] = converter.unstructure(obj)
    return data


def parse_stk_callback(body: bytes | str | Mapping[str, Any]) -> StkCallback:
    """Parse an STK callback body (``{"Body": {"stkCallback": …}}``)."""
    return structure(body, StkCallback)


def parse_c2b_payment(body: bytes | str | Mapping[str, Any]) -> C2BPayment:
    """Parse a C2B validation or confirmation body (all values kept as text)."""
    return structure(body, C2BPayment)


# -- STK callback: nested, metadata items looked up by Name ---------------------------------

_ITEMS = "Body.stkCallback.CallbackMetadata.Item"


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        if value is None:
            raise PayloadError(
                f"StkCallback: {field} is missing",
                field=field,
                code=ErrorCode.PAYLOAD_MISSING_FIELD,
            )
        raise PayloadError(
            f"StkCallback: {field} is {type(value).__name__}; expected an object", field=field
        )
    return value


def _callback_items(callback: Mapping[str, Any]) -> dict[str, Any]:
    metadata = callback.get("CallbackMetadata")
    if metadata is None:
        return {}
    items = _mapping(metadata, "Body.stkCallback.CallbackMetadata").get("Item") or []
    if not isinstance(items, list):
        raise PayloadError(f"StkCallback: {_ITEMS} is not a list", field=_ITEMS)
    found: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("Name"), str):
            # ``Balance`` usually comes without a Value: treat it as absent.
            found[item["Name"]] = item.get("Value")
    return found


def _item(items: Mapping[str, Any], name: str, parse: Any) -> Any:
    value = items.get(name)
    if value is None or value == "":
        return None
    field = f"Body.stkCallback.CallbackMetadata.{name}"
    try:
        return parse(value, field)
    except (InvalidAmount, InvalidTimestamp) as exc:
        raise PayloadError(f"StkCallback: {exc.message}", field=field) from None
    except ValueError as exc:
        raise PayloadError(f"StkCallback: {field} {exc}", field=field) from None


def _receipt(value: Any, field: str) -> str:
    receipt = receipt_text(value).strip()
    problem = receipt_problem(receipt)
    if problem is not None:
        raise ValueError(f"{receipt[:60]!r} is not an M-Pesa receipt: {problem}")
    return receipt


def _structure_stk_callback(data: Any, _: type) -> StkCallback:
    body = _mapping(data.get("Body"), "Body")
    callback = _mapping(body.get("stkCallback"), "Body.stkCallback")
    flat: dict[str, Any] = {}
    for attr, wire in WIRE_NAMES[StkCallback].items():
        field = f"Body.stkCallback.{wire}"
        if wire not in callback:
            if attr == "result_desc":
                continue
            raise PayloadError(
                f"StkCallback: {field} is missing",
                field=field,
                code=ErrorCode.PAYLOAD_MISSING_FIELD,
            )
        try:
            flat[attr] = text(callback[wire])
        except ValueError as exc:
            raise PayloadError(f"StkCallback: {field} {exc}", field=field) from None
    items = _callback_items(callback)
    return StkCallback(
        **flat,
        amount=_item(items, "Amount", lambda v, f: parse_amount(v, field=f)),
        receipt_number=_item(items, "MpesaReceiptNumber", _receipt),
        transaction_date=_item(
            items, "TransactionDate", lambda v, f: parse_daraja_timestamp(text(v), field=f)
        ),
        phone_number=_item(items, "PhoneNumber", lambda v, f: text(v)),
        balance=_item(items, "Balance", lambda v, f: parse_amount(v, field=f, allow_negative=True)),
    )


def _unstructure_stk_callback(cb: StkCallback) -> dict[str, Any]:
    code: int | str = int(cb.result_code) if cb.result_code.isdigit() else cb.result_code
    callback: dict[str, Any] = {
        "MerchantRequestID": cb.merchant_request_id,
        "CheckoutRequestID": cb.checkout_request_id,
        "ResultCode": code,
        "ResultDesc": cb.result_desc,
    }
    items: list[dict[str, Any]] = []
    if cb.amount is not None:
        items.append({"Name": "Amount", "Value": cb.amount})
    if cb.receipt_number is not None:
        items.append({"Name": "MpesaReceiptNumber", "Value": cb.receipt_number})
    if cb.balance is not None:
        items.append({"Name": "Balance", "Value": cb.balance})
    if cb.transaction_date is not None:
        items.append(
            {"Name": "TransactionDate", "Value": int(format_daraja_timestamp(cb.transaction_date))}
        )
    if cb.phone_number is not None:
        phone: int | str = int(cb.phone_number) if cb.phone_number.isdigit() else cb.phone_number
        items.append({"Name": "PhoneNumber", "Value": phone})
    if items:
        callback["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": callback}}


converter = _build_converter()
"""The converter itself, for code that needs cattrs directly (prefer the functions)."""
