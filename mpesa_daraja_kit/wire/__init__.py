"""Daraja's wire format: typed payload classes and the one converter that reads and writes them.

Build and read :mod:`.payloads` classes by their Python names; turn them into
Daraja JSON with :func:`unstructure` and parse Daraja JSON with
:func:`structure`, :func:`parse_stk_callback` or :func:`parse_c2b_payment`.
"""

from __future__ import annotations

from mpesa_daraja_kit.wire.converter import (
    WIRE_NAMES,
    load_json,
    parse_c2b_payment,
    parse_stk_callback,
    structure,
    unstructure,
)
from mpesa_daraja_kit.wire.payloads import (
    C2B_REJECTION_CODES,
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

__all__ = [
    "C2B_REJECTION_CODES",
    "WIRE_NAMES",
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
    "load_json",
    "parse_c2b_payment",
    "parse_stk_callback",
    "structure",
    "unstructure",
]
