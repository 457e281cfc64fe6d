"""Everything that can go wrong talking to Daraja, as one exception tree.

::

    DarajaError  (mpesa_daraja_kit.errors)         talking to Daraja went wrong
    ├── DarajaTransportError                        no answer came back
    │   ├── DarajaConnectionError                   could not connect, or the connection broke
    │   └── DarajaTimeout                           no answer in time
    ├── DarajaInvalidResponse                       an answer that is not Daraja JSON
    │                                               (e.g. an HTML page with status 200)
    ├── DarajaAPIError                              Daraja answered with an error body
    │       .status_code .error_code .error_message .request_id
    │       .classification: DarajaErrorKind        what it means, from code *and* message
    └── DarajaOutcomeUnknown                        an STK push (or C2B simulation) may have
                                                    reached Daraja, but no usable answer came;
                                                    it was NOT re-sent

Input checked before anything is sent raises the base validation errors
(:class:`~mpesa_daraja_kit.errors.InvalidPhoneNumber`,
:class:`~mpesa_daraja_kit.errors.InvalidAmount`, …) and missing settings raise
:class:`~mpesa_daraja_kit.errors.ConfigError`.

Every error carries ``operation`` (which call failed: ``token``,
``stk_push``, …) so a token failure during an STK push is recognisably a
token failure — the push itself was never sent.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from mpesa_daraja_kit.errors import DarajaError, ErrorCode

__all__ = [
    "DarajaAPIError",
    "DarajaConnectionError",
    "DarajaError",
    "DarajaErrorKind",
    "DarajaInvalidResponse",
    "DarajaOperation",
    "DarajaOutcomeUnknown",
    "DarajaTimeout",
    "DarajaTransportError",
    "classify_error",
]


class DarajaOperation(StrEnum):
    """The Daraja call an error belongs to."""

    TOKEN = "token"  # noqa: S105 - an operation name
    STK_PUSH = "stk_push"
    STK_QUERY = "stk_query"
    REGISTER_C2B_URLS = "register_c2b_urls"
    C2B_SIMULATE = "c2b_simulate"


class DarajaErrorKind(StrEnum):
    """What a Daraja error answer means for the caller."""

    INVALID_REQUEST = "invalid_request"
    AUTH = "auth"
    PRODUCT_NOT_ENABLED = "product_not_enabled"
    RATE_LIMITED = "rate_limited"
    SUBSCRIBER_BUSY = "subscriber_busy"
    STILL_PROCESSING = "still_processing"
    SERVER = "server"


_HINTS: dict[DarajaErrorKind, str] = {
    DarajaErrorKind.INVALID_REQUEST: (
        "fix the request (the message names the field) and send it again"
    ),
    DarajaErrorKind.AUTH: (
        "check MPESA_CONSUMER_KEY / MPESA_CONSUMER_SECRET (and for STK, MPESA_PASSKEY and "
        "MPESA_BUSINESS_SHORT_CODE) belong to this environment's Daraja app"
    ),
    DarajaErrorKind.PRODUCT_NOT_ENABLED: (
        "add the API product (e.g. M-Pesa Express, C2B) to the Daraja app for these credentials"
    ),
    DarajaErrorKind.RATE_LIMITED: "Daraja's spike arrest: slow down and try again later",
    DarajaErrorKind.SUBSCRIBER_BUSY: (
        "the customer already has an M-Pesa prompt open; wait a minute or two and try again"
    ),
    DarajaErrorKind.STILL_PROCESSING: "not final yet: query again later (e.g. after 30 s)",
    DarajaErrorKind.SERVER: "Daraja failed; try again later",
}

# Codes whose meaning does not depend on the message (DARAJA.md, Hosts and auth).
_BY_CODE: dict[str, DarajaErrorKind] = {
    "404.001.03": DarajaErrorKind.AUTH,  # invalid or expired access token
    "404.001.04": DarajaErrorKind.AUTH,  # invalid authentication header
    "400.008.01": DarajaErrorKind.AUTH,  # bad consumer key / secret
    "400.008.02": DarajaErrorKind.AUTH,  # invalid grant type
    "401.003.01": DarajaErrorKind.PRODUCT_NOT_ENABLED,
    "500.003.02": DarajaErrorKind.RATE_LIMITED,  # spike arrest
    "500.003.03": DarajaErrorKind.RATE_LIMITED,  # quota violation
}

# 500.001.1001 is overloaded: its message tells four situations apart (DARAJA.md).
_OVERLOADED = "500.001.1001"
_OVERLOADED_MESSAGES: tuple[tuple[str, DarajaErrorKind], ...] = (
    ("being processed", DarajaErrorKind.STILL_PROCESSING),
    ("unable to lock subscriber", DarajaErrorKind.SUBSCRIBER_BUSY),
    ("wrong credentials", DarajaErrorKind.AUTH),
    ("merchant does not exist", DarajaErrorKind.INVALID_REQUEST),
)

_INVALID_FIELD = re.compile(r"invalid\s+([A-Za-z][A-Za-z0-9]*)", re.IGNORECASE)


def classify_error(
    status_code: int,
    error_code: str,
    error_message: str,
    operation: DarajaOperation | None = None,
) -> DarajaErrorKind:
    """Return what a Daraja error means, from its code, its message and the HTTP status."""
    code = error_code.strip()
    message = error_message.lower()
    if code == _OVERLOADED:
        for needle, kind in _OVERLOADED_MESSAGES:
            if needle in message:
                return kind
        return DarajaErrorKind.SERVER
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status_code == 429:
        return DarajaErrorKind.RATE_LIMITED
    family = code.split(".", 1)[0] if code else str(status_code)
    if family in ("401", "403"):
        return DarajaErrorKind.AUTH
    if operation is DarajaOperation.TOKEN and family == "400":
        # The token endpoint answers bad credentials with a bare 400 at times.
        return DarajaErrorKind.AUTH
    if family.startswith("5") or status_code >= 500:
        return DarajaErrorKind.SERVER
    return DarajaErrorKind.INVALID_REQUEST


class DarajaTransportError(DarajaError):
    """No answer came back from Daraja.

    ``request_sent`` is False only when the request certainly never left
    (connection refused, connect timeout): only then may an STK push be
    sent again.
    """

    code = ErrorCode.DARAJA_CONNECTION

    def __init__(
        self,
        message: str,
        *,
        operation: DarajaOperation,
        request_sent: bool,
        retryable: bool = True,
        **details: Any,
    ) -> None:
        super().__init__(message, operation=str(operation), request_sent=request_sent, **details)
        self.operation = operation
        self.request_sent = request_sent
        self.retryable = retryable


class DarajaConnectionError(DarajaTransportError):
    """Could not connect to Daraja, or the connection broke before an answer."""

    code = ErrorCode.DARAJA_CONNECTION


class DarajaTimeout(DarajaTransportError):
    """Daraja did not answer in time (connect or read timeout)."""

    code = ErrorCode.DARAJA_TIMEOUT


class DarajaInvalidResponse(DarajaError):
    """Daraja's answer is not the JSON it documents (an HTML page, a missing field)."""

    code = ErrorCode.DARAJA_INVALID_RESPONSE

    def __init__(
        self, message: str, *, operation: DarajaOperation, status_code: int, **details: Any
    ) -> None:
        super().__init__(message, operation=str(operation), status_code=status_code, **details)
        self.operation = operation
        self.status_code = status_code


class DarajaAPIError(DarajaError):
    """Daraja answered with an error body ``{"requestId", "errorCode", "errorMessage"}``.

    ``classification`` says what to do (see ``docs/client.md``); ``invalid_field``
    names the field of a ``400.002.02 Invalid <Field>`` answer.
    """

    code = ErrorCode.DARAJA_ERROR

    def __init__(
        self,
        *,
        operation: DarajaOperation,
        status_code: int,
        error_code: str,
        error_message: str,
        request_id: str = "",
        classification: DarajaErrorKind | None = None,
    ) -> None:
        kind = classification or classify_error(status_code, error_code, error_message, operation)
        match = _INVALID_FIELD.search(error_message) if error_code == "400.002.02" else None
        self.invalid_field = match.group(1) if match else None
        shown = " ".join(part for part in (error_code, error_message) if part) or "no details"
        message = f"Daraja {operation} failed with HTTP {status_code} ({shown}): {_HINTS[kind]}"
        super().__init__(
            message,
            operation=str(operation),
            status_code=status_code,
            error_code=error_code,
            error_message=error_message,
            request_id=request_id,
            classification=str(kind),
        )
        if self.invalid_field:
            self.details["invalid_field"] = self.invalid_field
        self.operation = operation
        self.status_code = status_code
        self.error_code = error_code
        self.error_message = error_message
        self.request_id = request_id
        self.classification = kind

    @property
    def hint(self) -> str:
        """Return what the caller should do about this error."""
        return _HINTS[self.classification]

    @property
    def retryable(self) -> bool:
        """Tell whether the same request may succeed later unchanged (5xx, spike arrest)."""
        return self.classification in (DarajaErrorKind.SERVER, DarajaErrorKind.RATE_LIMITED)


class DarajaOutcomeUnknown(DarajaError):
    """The request may have reached Daraja, but no usable answer came; it was not re-sent.

    Raised for STK pushes (and C2B simulations) instead of the timeout or 5xx
    that caused it (available as ``__cause__``): sending again could put a
    second prompt on the customer's phone and charge twice. Find out from
    the callback, a C2B confirmation or the statement before trying again.
    ``request`` is the body that was sent (its ``timestamp`` identifies it).
    """

    code = ErrorCode.DARAJA_OUTCOME_UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        operation: DarajaOperation,
        reason: str,
        request: Any = None,
        **details: Any,
    ) -> None:
        super().__init__(message, operation=str(operation), reason=reason, **details)
        self.operation = operation
        self.reason = reason
        self.request = request
