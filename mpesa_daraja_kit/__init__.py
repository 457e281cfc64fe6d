"""mpesa_daraja_kit: M-Pesa Daraja payments for ASGI hosts, every shilling recorded once.

This module is the public face: everything a host needs is importable from here,
and ``__all__`` lists exactly that (a test keeps it honest). Other modules may
change between releases.
"""

from __future__ import annotations

from mpesa_daraja_kit.config import (
    C2BResponseType,
    C2BValidationMode,
    Environment,
    Settings,
    TransactionKind,
)
from mpesa_daraja_kit.db.migrate import check_schema, migrate
from mpesa_daraja_kit.enums import (
    CallbackKind,
    CallbackOutcome,
    PaymentSource,
    StatementReasonType,
    StkPushStatus,
)
from mpesa_daraja_kit.errors import (
    ConfigError,
    DarajaError,
    ErrorCode,
    InvalidAccountReference,
    InvalidAmount,
    InvalidPhoneNumber,
    InvalidTimestamp,
    MpesaKitError,
    PayloadError,
    SchemaOutOfDate,
    ValidationError,
)
from mpesa_daraja_kit.phone import hash_msisdn, normalize_msisdn

__version__ = "0.1.0"

__all__ = [
    "C2BResponseType",
    "C2BValidationMode",
    "CallbackKind",
    "CallbackOutcome",
    "ConfigError",
    "DarajaError",
    "Environment",
    "ErrorCode",
    "InvalidAccountReference",
    "InvalidAmount",
    "InvalidPhoneNumber",
    "InvalidTimestamp",
    "MpesaKitError",
    "PayloadError",
    "PaymentSource",
    "SchemaOutOfDate",
    "Settings",
    "StatementReasonType",
    "StkPushStatus",
    "TransactionKind",
    "ValidationError",
    "__version__",
    "check_schema",
    "hash_msisdn",
    "migrate",
    "normalize_msisdn",
]
