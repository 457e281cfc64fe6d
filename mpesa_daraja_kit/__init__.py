"""mpesa_daraja_kit: M-Pesa Daraja payments for ASGI hosts, every shilling recorded once.

This module is the public face: everything a host names is importable from here,
and ``__all__`` lists exactly that (a test keeps it honest). Other modules may
change between releases.

The names load lazily (PEP 562): ``import mpesa_daraja_kit`` or a small module such
as ``mpesa_daraja_kit.clock`` does not pull in SQLAlchemy's ORM, Alembic or the web
layer; ``from mpesa_daraja_kit import MpesaKit`` imports what the kit needs then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mpesa_daraja_kit.client import (
        AsyncDarajaClient,
        DarajaAPIError,
        DarajaClient,
        DarajaErrorKind,
    )
    from mpesa_daraja_kit.clock import KENYA_TZ, Clock, utc_now
    from mpesa_daraja_kit.config import (
        C2BResponseType,
        C2BValidationMode,
        Environment,
        Settings,
        TransactionKind,
    )
    from mpesa_daraja_kit.db.migrate import check_schema, migrate
    from mpesa_daraja_kit.db.models import metadata
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
    from mpesa_daraja_kit.events import (
        Account,
        C2BDecision,
        Event,
        PaymentLinked,
        PaymentRecorded,
        PaymentUnmatched,
        StatementImported,
        StkPushMissingIpn,
        StkPushUpdated,
    )
    from mpesa_daraja_kit.hookspecs import hookimpl
    from mpesa_daraja_kit.kit import MpesaKit
    from mpesa_daraja_kit.log import JsonFormatter, configure_logging
    from mpesa_daraja_kit.money import parse_amount
    from mpesa_daraja_kit.phone import hash_msisdn, normalize_msisdn
    from mpesa_daraja_kit.simulator import Simulator, SimulatorConfig, create_simulator_app
    from mpesa_daraja_kit.statements import RowFailure, StatementError, open_statement

# Where each public name lives: imported on first use.
_EXPORTS: dict[str, str] = {
    "Account": "mpesa_daraja_kit.events",
    "AsyncDarajaClient": "mpesa_daraja_kit.client",
    "C2BDecision": "mpesa_daraja_kit.events",
    "C2BResponseType": "mpesa_daraja_kit.config",
    "C2BValidationMode": "mpesa_daraja_kit.config",
    "CallbackKind": "mpesa_daraja_kit.enums",
    "CallbackOutcome": "mpesa_daraja_kit.enums",
    "Clock": "mpesa_daraja_kit.clock",
    "ConfigError": "mpesa_daraja_kit.errors",
    "DarajaAPIError": "mpesa_daraja_kit.client",
    "DarajaClient": "mpesa_daraja_kit.client",
    "DarajaError": "mpesa_daraja_kit.errors",
    "DarajaErrorKind": "mpesa_daraja_kit.client",
    "Environment": "mpesa_daraja_kit.config",
    "ErrorCode": "mpesa_daraja_kit.errors",
    "Event": "mpesa_daraja_kit.events",
    "InvalidAccountReference": "mpesa_daraja_kit.errors",
    "InvalidAmount": "mpesa_daraja_kit.errors",
    "InvalidPhoneNumber": "mpesa_daraja_kit.errors",
    "InvalidTimestamp": "mpesa_daraja_kit.errors",
    "JsonFormatter": "mpesa_daraja_kit.log",
    "KENYA_TZ": "mpesa_daraja_kit.clock",
    "MpesaKit": "mpesa_daraja_kit.kit",
    "MpesaKitError": "mpesa_daraja_kit.errors",
    "PayloadError": "mpesa_daraja_kit.errors",
    "PaymentLinked": "mpesa_daraja_kit.events",
    "PaymentRecorded": "mpesa_daraja_kit.events",
    "PaymentSource": "mpesa_daraja_kit.enums",
    "PaymentUnmatched": "mpesa_daraja_kit.events",
    "RowFailure": "mpesa_daraja_kit.statements",
    "SchemaOutOfDate": "mpesa_daraja_kit.errors",
    "Settings": "mpesa_daraja_kit.config",
    "Simulator": "mpesa_daraja_kit.simulator",
    "SimulatorConfig": "mpesa_daraja_kit.simulator",
    "StatementError": "mpesa_daraja_kit.statements",
    "StatementImported": "mpesa_daraja_kit.events",
    "StatementReasonType": "mpesa_daraja_kit.enums",
    "StkPushMissingIpn": "mpesa_daraja_kit.events",
    "StkPushStatus": "mpesa_daraja_kit.enums",
    "StkPushUpdated": "mpesa_daraja_kit.events",
    "TransactionKind": "mpesa_daraja_kit.config",
    "ValidationError": "mpesa_daraja_kit.errors",
    "check_schema": "mpesa_daraja_kit.db.migrate",
    "configure_logging": "mpesa_daraja_kit.log",
    "create_simulator_app": "mpesa_daraja_kit.simulator",
    "hash_msisdn": "mpesa_daraja_kit.phone",
    "hookimpl": "mpesa_daraja_kit.hookspecs",
    "metadata": "mpesa_daraja_kit.db.models",
    "migrate": "mpesa_daraja_kit.db.migrate",
    "normalize_msisdn": "mpesa_daraja_kit.phone",
    "open_statement": "mpesa_daraja_kit.statements",
    "parse_amount": "mpesa_daraja_kit.money",
    "utc_now": "mpesa_daraja_kit.clock",
}

__all__ = [
    "KENYA_TZ",
    "Account",
    "AsyncDarajaClient",
    "C2BDecision",
    "C2BResponseType",
    "C2BValidationMode",
    "CallbackKind",
    "CallbackOutcome",
    "Clock",
    "ConfigError",
    "DarajaAPIError",
    "DarajaClient",
    "DarajaError",
    "DarajaErrorKind",
    "Environment",
    "ErrorCode",
    "Event",
    "InvalidAccountReference",
    "InvalidAmount",
    "InvalidPhoneNumber",
    "InvalidTimestamp",
    "JsonFormatter",
    "MpesaKit",
    "MpesaKitError",
    "PayloadError",
    "PaymentLinked",
    "PaymentRecorded",
    "PaymentSource",
    "PaymentUnmatched",
    "RowFailure",
    "SchemaOutOfDate",
    "Settings",
    "Simulator",
    "SimulatorConfig",
    "StatementError",
    "StatementImported",
    "StatementReasonType",
    "StkPushMissingIpn",
    "StkPushStatus",
    "StkPushUpdated",
    "TransactionKind",
    "ValidationError",
    "__version__",
    "check_schema",
    "configure_logging",
    "create_simulator_app",
    "hash_msisdn",
    "hookimpl",
    "metadata",
    "migrate",
    "normalize_msisdn",
    "open_statement",
    "parse_amount",
    "utc_now",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mpesa_daraja_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
