"""Error answers with stable codes, and JSON rendering of service views."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mpesa_daraja_kit.errors import ErrorCode, MpesaKitError
from mpesa_daraja_kit.log import get_logger
from mpesa_daraja_kit.services.callbacks import is_database_unavailable

__all__ = [
    "JSON_EXCEPTION_HANDLERS",
    "STATUS_BY_CODE",
    "error_response",
    "json_ready",
    "unexpected_error_response",
]

log = get_logger("web")

STATUS_BY_CODE: Mapping[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.AUTHENTICATION_NOT_CONFIGURED: 503,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_ACCOUNT: 404,
    ErrorCode.STK_DISABLED: 503,
    ErrorCode.STK_PUSH_IN_PROGRESS: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.OVERLOADED: 503,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.DATABASE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.STATEMENT_TOO_LARGE: 413,
    ErrorCode.DARAJA_ERROR: 502,
    ErrorCode.DARAJA_CONNECTION: 503,
    ErrorCode.DARAJA_TIMEOUT: 504,
    ErrorCode.DARAJA_INVALID_RESPONSE: 502,
    ErrorCode.DARAJA_OUTCOME_UNKNOWN: 504,
    ErrorCode.CONFIG_INVALID: 500,
    ErrorCode.SCHEMA_OUT_OF_DATE: 503,
    # The server lacks an installed part (an optional extra); the request was fine.
    ErrorCode.MISSING_DEPENDENCY: 501,
}

# Daraja's refusals map to what the caller can do about them.
_REJECTION_STATUS = {
    "invalid_request": 400,
    "subscriber_busy": 409,
    "rate_limited": 429,
    "auth": 502,
    "product_not_enabled": 502,
    "server": 502,
}


def error_response(exc: MpesaKitError, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Return ``{"error": {"code", "message", ...}}`` with the status for the error's code."""
    status = STATUS_BY_CODE.get(exc.code, 400)
    if exc.code is ErrorCode.STK_PUSH_REJECTED:
        status = _REJECTION_STATUS.get(str(exc.details.get("classification", "")), 502)
    extra = dict(headers or {})
    if exc.code in (ErrorCode.RATE_LIMITED, ErrorCode.OVERLOADED) and "retry_after" in exc.details:
        extra["Retry-After"] = str(exc.details["retry_after"])
    return JSONResponse({"error": json_ready(exc.to_dict())}, status_code=status, headers=extra)


def json_ready(value: Any) -> Any:
    """Return ``value`` with Decimals as exact text, datetimes as ISO 8601, UUIDs as text."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    """Answer an error the kit did not raise on purpose: JSON with a stable code, never a trace.

    A database that cannot take the request now is ``503 database_unavailable``
    with ``Retry-After``; anything else is ``500 internal_error`` (logged).
    """
    if is_database_unavailable(exc):
        log.warning("database unavailable; answered 503", extra={"error": type(exc).__name__})
        body = MpesaKitError(
            "the database is unavailable right now; nothing was changed, try again shortly",
            code=ErrorCode.DATABASE_UNAVAILABLE,
        )
        return error_response(body, headers={"Retry-After": "5"})
    log.error("unexpected error; answered 500", exc_info=exc)
    return error_response(
        MpesaKitError(
            "an unexpected error; it is in the server's log", code=ErrorCode.INTERNAL_ERROR
        )
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
        exc.status_code, ErrorCode.INVALID_REQUEST
    )
    body = {"error": {"code": str(code), "message": str(exc.detail)}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_error_response(exc)


JSON_EXCEPTION_HANDLERS: Mapping[Any, Any] = {HTTPException: _http_error, Exception: _unexpected}
"""Starlette exception handlers making every error answer JSON with a stable code."""
