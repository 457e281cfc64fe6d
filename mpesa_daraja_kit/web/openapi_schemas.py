"""What the OpenAPI document says about each route: schemas, operations and examples.

Daraja's payloads are illustrated with the real bodies in ``web/examples/``
(copies of ``tests/fixtures/daraja``, kept equal by a test); the internal DTOs
(the original plan's camelCase shapes, ``web/dto.py``) with examples written
to agree with them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import attrs

__all__ = ["EXAMPLE_NAMES", "OPERATIONS", "SCHEMAS", "Operation", "example"]

EXAMPLE_NAMES = (
    "c2b_confirmation_hashed_msisdn",
    "c2b_validation",
    "stk_callback_cancelled",
    "stk_callback_success",
    "stk_push_response_ok",
)


@cache
def example(name: str) -> Any:
    """Return a shipped Daraja example payload (``web/examples/<name>.json``)."""
    path = resources.files("mpesa_daraja_kit.web").joinpath("examples", f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Mapping[str, Any], **examples: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": dict(schema)}
    if examples:
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"application/json": content}


def _error(description: str, *codes: str) -> dict[str, Any]:
    shown = ", ".join(f"`{c}`" for c in codes)
    return {
        "description": f"{description} ({shown})" if codes else description,
        "content": _json(_ref("Error")),
    }


_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
_MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "KES, exact text"}

_STK_PUSH_EXAMPLE = {
    "id": "0b9f7e8c-1a2b-4c3d-9e8f-0123456789ab",
    "checkoutRequestID": example("stk_push_response_ok")["CheckoutRequestID"],
    "merchantRequestID": example("stk_push_response_ok")["MerchantRequestID"],
    "status": "PENDING",
    "phoneNumber": "254708374149",
    "amount": "1.00",
    "accountReference": "POL0012345",
    "transactionDesc": "Premium",
    "resultCode": None,
    "resultDesc": None,
    "mpesaReceiptNumber": None,
    "linkedTransactionId": None,
    "transactionDate": None,
    "initiatedBy": "agent-7",
    "outcomeUnknown": False,
    "verifiedAt": None,
    "initiatedAt": "2024-07-10T07:15:26.172000+00:00",
    "completedAt": None,
    "createdAt": "2024-07-10T07:15:26.172000+00:00",
    "updatedAt": "2024-07-10T07:15:26.172000+00:00",
}
_STK_COMPLETED_EXAMPLE = {
    **_STK_PUSH_EXAMPLE,
    "status": "COMPLETED",
    "resultCode": "0",
    "resultDesc": "The service request is processed successfully.",
    "mpesaReceiptNumber": "SGA7RT61SV",
    "linkedTransactionId": "SGA7RT61SV",
    "transactionDate": "2024-07-10T07:16:03+00:00",
    "completedAt": "2024-07-10T07:16:03.400000+00:00",
    "updatedAt": "2024-07-10T07:16:03.400000+00:00",
}
_PAYMENT_EXAMPLE = {
    "id": "5d0c1d7e-2f4a-4b5c-8d6e-7f8091a2b3c4",
    "transactionReference": "SGA7RT61SV",
    "entryKind": "RECEIVED",
    "direction": "IN",
    "source": "IPN",
    "completionTime": "2024-07-10T07:16:03+00:00",
    "initiationTime": None,
    "details": "Pay Bill",
    "transactionStatus": "Completed",
    "transactionType": "Pay Bill",
    "paidIn": "1.00",
    "withdrawn": None,
    "balance": "49197.00",
    "reasonType": "PayBill_STK",
    "accountNumber": "POL0012345",
    "hostAccountId": "policy-1",
    "msisdn": None,
    "msisdnHash": example("c2b_confirmation_hashed_msisdn")["MSISDN"],
    "firstName": None,
    "middleName": None,
    "lastName": None,
    "businessShortCode": "174379",
    "mpesaStkPushRequestId": _STK_PUSH_EXAMPLE["id"],
    "linkMethod": "receipt",
    "mpesaPaymentReportUploadId": None,
    "confirmedByIpnAt": "2024-07-10T07:16:04+00:00",
    "confirmedByStkAt": "2024-07-10T07:16:03.400000+00:00",
    "confirmedByStatementAt": None,
    "createdAt": "2024-07-10T07:16:03.400000+00:00",
}
_UPLOAD_EXAMPLE = {
    "id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
    "totalStatementItems": 5,
    "matchedIpnRecords": 1,
    "duplicateStatementRecords": 0,
    "gapsFilled": 1,
    "failedItems": [{"row": 12, "reason": "Paid In '1,2x' is not an amount"}],
    "status": "COMPLETED",
    "durationMs": 84,
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "stable `ErrorCode` value"},
                    "message": {"type": "string", "description": "what was wrong, what to do"},
                },
                "additionalProperties": True,
            }
        },
        "example": {
            "error": {
                "code": "unknown_account",
                "message": "no account with reference 'POL0000000'; check the policy's "
                "payment account number",
                "account_reference": "POL0000000",
            }
        },
    },
    "CallbackAccepted": {
        "type": "object",
        "properties": {"ResultCode": {"type": "integer"}, "ResultDesc": _STRING},
        "example": {"ResultCode": 0, "ResultDesc": "Accepted"},
    },
    "StkCallback": {
        "type": "object",
        "description": "Daraja's STK result: `Body.stkCallback`; `CallbackMetadata` only "
        "on success (`ResultCode` 0).",
        "properties": {
            "Body": {
                "type": "object",
                "properties": {
                    "stkCallback": {
                        "type": "object",
                        "required": ["MerchantRequestID", "CheckoutRequestID", "ResultCode"],
                        "properties": {
                            "MerchantRequestID": _STRING,
                            "CheckoutRequestID": _STRING,
                            "ResultCode": {"type": "integer"},
                            "ResultDesc": _STRING,
                            "CallbackMetadata": {
                                "type": "object",
                                "properties": {
                                    "Item": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {"Name": _STRING, "Value": {}},
                                        },
                                    }
                                },
                            },
                        },
                    }
                },
            }
        },
        "example": example("stk_callback_success"),
    },
    "C2BPayment": {
        "type": "object",
        "description": "A C2B confirmation or validation body. `MSISDN` is the payer's "
        "number, its SHA-256 hex, or a mask, depending on the short code.",
        "required": ["TransID", "TransAmount", "BusinessShortCode"],
        "properties": {
            name: _STRING
            for name in (
                "TransactionType",
                "TransID",
                "TransTime",
                "TransAmount",
                "BusinessShortCode",
                "BillRefNumber",
                "InvoiceNumber",
                "OrgAccountBalance",
                "ThirdPartyTransID",
                "MSISDN",
                "FirstName",
                "MiddleName",
                "LastName",
            )
        },
        "example": example("c2b_confirmation_hashed_msisdn"),
    },
    "C2BValidationAnswer": {
        "type": "object",
        "properties": {
            "ResultCode": {"type": "string", "description": "`0` accept, `C2B000xx` reject"},
            "ResultDesc": _STRING,
            "ThirdPartyTransID": _STRING,
        },
        "example": {"ResultCode": "0", "ResultDesc": "Accepted"},
    },
    "StkPushInitiateRequest": {
        "type": "object",
        "required": ["phoneNumber", "amount", "accountReference"],
        "properties": {
            "phoneNumber": {
                "type": "string",
                "description": "Kenyan mobile number in any usual form (07…, 2547…, +2547…)",
            },
            "amount": {
                "oneOf": [{"type": "integer"}, {"type": "string"}],
                "description": "whole shillings within MPESA_AMOUNT_MIN…MPESA_AMOUNT_MAX",
            },
            "accountReference": {
                "type": "string",
                "maxLength": 12,
                "description": "the policy's payment account number",
            },
            "transactionDesc": {"type": "string", "maxLength": 13},
        },
        "example": {
            "phoneNumber": "0708374149",
            "amount": 1,
            "accountReference": "POL0012345",
            "transactionDesc": "Premium",
        },
    },
    "StkPushRequest": {
        "type": "object",
        "description": "`StkPushRequestResponseDto`: one prompt and its outcome.",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "checkoutRequestID": _NULLABLE_STRING,
            "merchantRequestID": _NULLABLE_STRING,
            "status": {
                "type": "string",
                "enum": ["PENDING", "COMPLETED", "FAILED", "CANCELLED", "EXPIRED"],
            },
            "phoneNumber": _STRING,
            "amount": _MONEY,
            "accountReference": _STRING,
            "transactionDesc": _NULLABLE_STRING,
            "resultCode": _NULLABLE_STRING,
            "resultDesc": _NULLABLE_STRING,
            "mpesaReceiptNumber": _NULLABLE_STRING,
            "linkedTransactionId": _NULLABLE_STRING,
            "transactionDate": _TIME,
            "initiatedBy": _NULLABLE_STRING,
            "outcomeUnknown": {"type": "boolean"},
            "verifiedAt": _TIME,
            "initiatedAt": _TIME,
            "completedAt": _TIME,
            "createdAt": _TIME,
            "updatedAt": _TIME,
        },
        "example": _STK_COMPLETED_EXAMPLE,
    },
    "StatementUploadResponse": {
        "type": "object",
        "description": "`MpesaPaymentUploadResponseDto`: what an upload did.",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "fileName": _NULLABLE_STRING,
            "fileSha256": _STRING,
            "format": {"type": "string", "description": "csv, xls or xlsx (sniffed)"},
            "family": {"type": "string", "description": "A (org portal) or B (newer template)"},
            "uploadedBy": _NULLABLE_STRING,
            "shortCode": _NULLABLE_STRING,
            "periodFrom": _TIME,
            "periodTo": _TIME,
            "totalStatementItems": {"type": "integer"},
            "matchedIpnRecords": {"type": "integer"},
            "duplicateStatementRecords": {"type": "integer"},
            "gapsFilled": {"type": "integer"},
            "failedItems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"row": {"type": "integer"}, "reason": _STRING},
                },
            },
            "failedItemCount": {"type": "integer"},
            "breakdown": {"type": "object", "additionalProperties": {"type": "integer"}},
            "status": _STRING,
            "startedAt": _TIME,
            "finishedAt": _TIME,
            "durationMs": {"type": "integer"},
        },
        "example": _UPLOAD_EXAMPLE,
    },
    "Payment": {
        "type": "object",
        "description": "One payment item (`MpesaPaymentReportItem`).",
        "properties": {
            name: ({"type": "string"} if name in ("id", "transactionReference") else {})
            for name in _PAYMENT_EXAMPLE
        },
        "example": _PAYMENT_EXAMPLE,
    },
    "PaymentList": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("Payment")}},
    },
}


@attrs.frozen
class Operation:
    """One described operation (an OpenAPI operation object without security)."""

    spec: Mapping[str, Any]


_ACCEPTED = {
    "200": {
        "description": "Stored (also when the body then fails to parse: it is kept for replay).",
        "content": _json(_ref("CallbackAccepted")),
    },
    "403": {"description": "Refused by a guard (address not allowed, wrong path secret)."},
    "413": {"description": "Body too large: the caller is not Safaricom."},
}


def _query(name: str, description: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": dict(schema or _STRING),
    }


OPERATIONS: Mapping[tuple[str, str], Operation] = {
    ("POST", "/stk-push/callback"): Operation(
        {
            "tags": ["M-Pesa STK Push"],
            "summary": "STK callback from Safaricom (public, no authentication)",
            "requestBody": {
                "required": True,
                "content": _json(
                    _ref("StkCallback"),
                    paid=example("stk_callback_success"),
                    cancelled=example("stk_callback_cancelled"),
                ),
            },
            "responses": dict(_ACCEPTED),
        }
    ),
    ("POST", "/confirmation"): Operation(
        {
            "tags": ["M-Pesa IPN"],
            "summary": "C2B confirmation (IPN) from Safaricom (public, no authentication)",
            "requestBody": {
                "required": True,
                "content": _json(
                    _ref("C2BPayment"), paybill=example("c2b_confirmation_hashed_msisdn")
                ),
            },
            "responses": dict(_ACCEPTED),
        }
    ),
    ("POST", "/validation"): Operation(
        {
            "tags": ["M-Pesa IPN"],
            "summary": "C2B validation from Safaricom (public, no authentication)",
            "description": "Answers within MPESA_VALIDATION_TIMEOUT: accept, or a `C2B000xx` "
            "rejection from the `mpesa_validate_c2b` hooks.",
            "requestBody": {
                "required": True,
                "content": _json(_ref("C2BPayment"), paybill=example("c2b_validation")),
            },
            "responses": {
                "200": {
                    "description": "The decision.",
                    "content": _json(
                        _ref("C2BValidationAnswer"),
                        accepted={"ResultCode": "0", "ResultDesc": "Accepted"},
                        unknown_account={
                            "ResultCode": "C2B00012",
                            "ResultDesc": "Rejected: unknown account number",
                        },
                    ),
                },
                "403": _ACCEPTED["403"],
                "413": _ACCEPTED["413"],
            },
        }
    ),
    ("POST", "/stk-push/initiate"): Operation(
        {
            "tags": ["M-Pesa STK Push"],
            "summary": "Prompt a customer's phone to pay a policy (M-Pesa Express)",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Repeat a request safely: the same key returns the same prompt.",
                    "schema": _STRING,
                }
            ],
            "requestBody": {"required": True, "content": _json(_ref("StkPushInitiateRequest"))},
            "responses": {
                "201": {
                    "description": "The prompt was sent; it is PENDING until its callback.",
                    "content": _json(_ref("StkPushRequest"), pending=_STK_PUSH_EXAMPLE),
                },
                "200": {
                    "description": "The same Idempotency-Key was used before: that request.",
                    "content": _json(_ref("StkPushRequest")),
                },
                "202": {
                    "description": "Daraja's answer was lost: PENDING, `outcomeUnknown`, never "
                    "re-sent; reconciliation settles it.",
                    "content": _json(_ref("StkPushRequest")),
                },
                "400": _error(
                    "Invalid input",
                    "invalid_phone_number",
                    "invalid_amount",
                    "invalid_account_reference",
                    "invalid_transaction_desc",
                    "invalid_request",
                ),
                "404": _error("No policy has this account reference", "unknown_account"),
                "409": _error(
                    "The phone already has a prompt open, or the key was reused",
                    "stk_push_in_progress",
                    "idempotency_conflict",
                ),
                "502": _error("Daraja refused the push", "stk_push_rejected", "daraja_error"),
                "503": _error("STK Push is switched off", "stk_disabled", "daraja_connection"),
            },
        }
    ),
    ("GET", "/stk-push/{request_id}"): Operation(
        {
            "tags": ["M-Pesa STK Push"],
            "summary": "One prompt's state (by id or CheckoutRequestID)",
            "responses": {
                "200": {
                    "description": "The prompt.",
                    "content": _json(
                        _ref("StkPushRequest"),
                        pending=_STK_PUSH_EXAMPLE,
                        completed=_STK_COMPLETED_EXAMPLE,
                    ),
                },
                "404": _error("No such prompt", "not_found"),
            },
        }
    ),
    ("POST", "/statements"): Operation(
        {
            "tags": ["M-Pesa statements"],
            "summary": "Upload an org-portal statement (CSV, XLS or XLSX) to fill gaps",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "Imported: the statistics.",
                    "content": _json(_ref("StatementUploadResponse"), imported=_UPLOAD_EXAMPLE),
                },
                "400": _error("Not a statement the kit can read", "statement_invalid"),
                "413": _error("File too large", "statement_too_large"),
            },
        }
    ),
    ("GET", "/statements/{upload_id}"): Operation(
        {
            "tags": ["M-Pesa statements"],
            "summary": "One upload's statistics",
            "responses": {
                "200": {
                    "description": "The upload.",
                    "content": _json(_ref("StatementUploadResponse")),
                },
                "404": _error("No such upload", "not_found"),
            },
        }
    ),
    ("GET", "/payments"): Operation(
        {
            "tags": ["M-Pesa payments"],
            "summary": "List payments (money received, newest first), filtered",
            "parameters": [
                _query(
                    "source",
                    "where the row came from first",
                    {"type": "string", "enum": ["IPN", "STATEMENT", "STK_CALLBACK"]},
                ),
                _query("account", "account reference (policy payment account number)"),
                _query("linked", "true: linked to an STK push; false: not", {"type": "boolean"}),
                _query(
                    "since",
                    "ISO 8601 time with an offset (inclusive)",
                    {"type": "string", "format": "date-time"},
                ),
                _query(
                    "until",
                    "ISO 8601 time with an offset (exclusive)",
                    {"type": "string", "format": "date-time"},
                ),
                _query(
                    "kind",
                    "entry kind, or `all` (default RECEIVED)",
                    {
                        "type": "string",
                        "enum": ["RECEIVED", "CHARGE", "SWEEP", "OTHER", "NOT_COMPLETED", "all"],
                    },
                ),
                _query(
                    "upload",
                    "only rows of this statement upload",
                    {"type": "string", "format": "uuid"},
                ),
                _query(
                    "limit",
                    "at most this many (default 100, at most 500)",
                    {"type": "integer", "minimum": 1, "maximum": 500},
                ),
                _query(
                    "offset",
                    "skip this many (at most 1 000 000)",
                    {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                ),
            ],
            "responses": {
                "200": {
                    "description": "The payments.",
                    "content": _json(_ref("PaymentList"), recent={"items": [_PAYMENT_EXAMPLE]}),
                },
                "400": _error("A filter is not valid", "invalid_request"),
            },
        }
    ),
    ("GET", "/openapi.json"): Operation(
        {
            "tags": ["M-Pesa internal"],
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.0 document."}},
        }
    ),
}
