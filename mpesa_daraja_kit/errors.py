"""The kit's exception tree and its stable error codes.

Every error the kit raises on purpose derives from :class:`MpesaKitError` and
carries an :class:`ErrorCode`: a stable, documented string that hosts, HTTP
answers and logs can branch on. Messages say what was wrong and what was
expected; they never contain secrets, and never raw phone numbers unless the
host enabled PII logging.

::

    MpesaKitError                      code: ErrorCode
    ├── ConfigError                    a setting is missing or invalid (names the variable)
    ├── ValidationError                a value from outside is not acceptable
    │   ├── InvalidPhoneNumber
    │   ├── InvalidAmount
    │   ├── InvalidTimestamp
    │   └── InvalidAccountReference
    ├── PayloadError                   a Daraja payload cannot be parsed (names the field)
    ├── SchemaOutOfDate                the database schema is behind the kit (names the command)
    ├── Unauthenticated                no principal for an internal request (or no auth hook)
    ├── UnknownAccount                 the host knows no account for the reference
    ├── StkDisabled                    STK initiation is switched off by settings
    ├── StkPushInProgress              the phone already has an open prompt
    ├── IdempotencyConflict            an idempotency key reused with other parameters
    ├── NotFound                       no such STK request, upload, callback
    ├── RateLimited                    too many prompts for a principal or phone
    │   └── Overloaded                 this worker is at its limit of concurrent initiations
    ├── MissingDependency              an optional package is not installed (names the extra)
    └── DarajaError                    talking to Daraja went wrong (see mpesa_daraja_kit.client)
        └── StkPushRejected            Daraja refused an STK push (stored as FAILED)

The Daraja branch is extended in :mod:`mpesa_daraja_kit.client.errors`.
:func:`require` imports an optional package or raises :class:`MissingDependency`.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from types import ModuleType
from typing import Any


class ErrorCode(StrEnum):
    """Stable error codes. Values never change once released; new ones are added."""

    # configuration
    CONFIG_INVALID = "config_invalid"
    # input values
    INVALID_PHONE_NUMBER = "invalid_phone_number"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_ACCOUNT_REFERENCE = "invalid_account_reference"
    INVALID_TRANSACTION_DESC = "invalid_transaction_desc"
    INVALID_REQUEST = "invalid_request"
    # payloads from Daraja
    PAYLOAD_INVALID = "payload_invalid"
    PAYLOAD_NOT_JSON = "payload_not_json"
    PAYLOAD_MISSING_FIELD = "payload_missing_field"
    PAYLOAD_WRONG_CONTENT_TYPE = "payload_wrong_content_type"
    CALLBACK_FAILED = "callback_failed"
    CALLBACK_INTERRUPTED = "callback_interrupted"
    # database
    SCHEMA_OUT_OF_DATE = "schema_out_of_date"
    # Daraja
    DARAJA_ERROR = "daraja_error"
    DARAJA_TIMEOUT = "daraja_timeout"
    DARAJA_CONNECTION = "daraja_connection"
    DARAJA_OUTCOME_UNKNOWN = "daraja_outcome_unknown"
    DARAJA_INVALID_RESPONSE = "daraja_invalid_response"
    STK_PUSH_REJECTED = "stk_push_rejected"
    CALLBACK_SPOOLED = "callback_spooled"
    # host contract / flows
    UNAUTHENTICATED = "unauthenticated"
    AUTHENTICATION_NOT_CONFIGURED = "authentication_not_configured"
    UNKNOWN_ACCOUNT = "unknown_account"
    STK_DISABLED = "stk_disabled"
    STK_PUSH_IN_PROGRESS = "stk_push_in_progress"
    NOT_FOUND = "not_found"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    # any route (docs/reliability.md)
    METHOD_NOT_ALLOWED = "method_not_allowed"
    DATABASE_UNAVAILABLE = "database_unavailable"
    INTERNAL_ERROR = "internal_error"
    # statements
    STATEMENT_INVALID = "statement_invalid"
    STATEMENT_TOO_LARGE = "statement_too_large"
    STATEMENT_ROW_INVALID = "statement_row_invalid"
    # callback guards (docs/security.md)
    CALLBACK_ADDRESS_NOT_ALLOWED = "callback_address_not_allowed"
    CALLBACK_UNTRUSTED_FORWARDING = "callback_untrusted_forwarding"
    CALLBACK_WRONG_PATH_SECRET = "callback_wrong_path_secret"  # noqa: S105 - an error code
    CALLBACK_TOO_LARGE = "callback_too_large"
    CALLBACK_UNSUPPORTED_MEDIA_TYPE = "callback_unsupported_media_type"
    # installation (docs/installation.md)
    MISSING_DEPENDENCY = "missing_dependency"


class MpesaKitError(Exception):
    """Base of every error the kit raises on purpose."""

    code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, *, code: ErrorCode | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready body: ``{"code", "message", **details}``."""
        body: dict[str, Any] = {"code": str(self.code), "message": self.message}
        body.update(self.details)
        return body


class ConfigError(MpesaKitError):
    """A setting is missing or invalid; the message names the variable."""

    code = ErrorCode.CONFIG_INVALID


class ValidationError(MpesaKitError, ValueError):
    """A value from outside the kit is not acceptable."""

    code = ErrorCode.INVALID_REQUEST


class InvalidPhoneNumber(ValidationError):
    """Not a Kenyan mobile number the kit can normalise."""

    code = ErrorCode.INVALID_PHONE_NUMBER


class InvalidAmount(ValidationError):
    """Not an amount of money the kit accepts here."""

    code = ErrorCode.INVALID_AMOUNT


class InvalidTimestamp(ValidationError):
    """Not a Daraja ``YYYYMMDDHHmmss`` time (or not an aware datetime)."""

    code = ErrorCode.INVALID_TIMESTAMP


class InvalidAccountReference(ValidationError):
    """An account reference Daraja would not accept (or an empty one)."""

    code = ErrorCode.INVALID_ACCOUNT_REFERENCE


class PayloadError(MpesaKitError, ValueError):
    """A Daraja payload could not be parsed; names the field and the problem."""

    code = ErrorCode.PAYLOAD_INVALID

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: ErrorCode | None = None,
        **details: Any,
    ) -> None:
        if field is not None:
            details["field"] = field
        super().__init__(message, code=code, **details)
        self.field = field


class SchemaOutOfDate(MpesaKitError):
    """The database schema is behind the kit; the message names the command to run."""

    code = ErrorCode.SCHEMA_OUT_OF_DATE


class DarajaError(MpesaKitError):
    """Base of every failure talking to Daraja (see ``mpesa_daraja_kit.client.errors``)."""

    code = ErrorCode.DARAJA_ERROR


class StkPushRejected(DarajaError):
    """Daraja refused an STK push; the request is stored FAILED with Daraja's code."""

    code = ErrorCode.STK_PUSH_REJECTED


class Unauthenticated(MpesaKitError):
    """No principal for an internal-app request."""

    code = ErrorCode.UNAUTHENTICATED


class UnknownAccount(MpesaKitError):
    """``mpesa_lookup_account`` knows no account for the reference."""

    code = ErrorCode.UNKNOWN_ACCOUNT


class StkDisabled(MpesaKitError):
    """STK Push initiation is switched off (``MPESA_STK_ENABLED=false``)."""

    code = ErrorCode.STK_DISABLED


class StkPushInProgress(MpesaKitError):
    """The phone already has a PENDING prompt younger than the duplicate window."""

    code = ErrorCode.STK_PUSH_IN_PROGRESS


class IdempotencyConflict(MpesaKitError):
    """An idempotency key was reused with different parameters."""

    code = ErrorCode.IDEMPOTENCY_CONFLICT


class NotFound(MpesaKitError):
    """The thing asked for does not exist."""

    code = ErrorCode.NOT_FOUND


class RateLimited(MpesaKitError):
    """Too many requests; ``retry_after`` says how many seconds to wait."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class Overloaded(RateLimited):
    """This worker is at its limit of concurrent work; nothing was done. Retry after a moment."""

    code = ErrorCode.OVERLOADED


class MissingDependency(MpesaKitError, ImportError):
    """An optional package a feature needs is not installed; names the module and the extra."""

    code = ErrorCode.MISSING_DEPENDENCY

    def __init__(self, module: str, extra: str, *, feature: str | None = None) -> None:
        what = f"{feature} needs" if feature else "this needs"
        super().__init__(
            f"{what} the {module!r} package, which is not installed: "
            f"pip install 'mpesa_daraja_kit[{extra}]'",
            module=module,
            extra=extra,
        )
        self.module = module
        self.extra = extra
        self.name = module  # as ImportError has it


def require(module: str, extra: str, *, feature: str | None = None) -> ModuleType:
    """Import and return the optional ``module``, or raise :class:`MissingDependency`.

    ``extra`` is the name of the pip extra that installs it (docs/installation.md).
    An import error from some other package (a broken install further down) is not
    hidden: it propagates unchanged.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or module
        if missing != module and not missing.startswith(f"{module}."):
            raise
        raise MissingDependency(module, extra, feature=feature) from exc
