"""The internal app: initiate and read STK pushes, statements and payments (authenticated)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mpesa_daraja_kit.errors import ErrorCode, MpesaKitError, ValidationError
from mpesa_daraja_kit.web.context import KitContext, authenticate
from mpesa_daraja_kit.web.dto import stk_push_dto
from mpesa_daraja_kit.web.openapi import openapi_routes
from mpesa_daraja_kit.web.payments import payment_routes
from mpesa_daraja_kit.web.responses import (
    JSON_EXCEPTION_HANDLERS,
    error_response,
    unexpected_error_response,
)
from mpesa_daraja_kit.web.statements import statement_routes

__all__ = ["build_internal_app", "read_json", "route_handler"]

Handler = Callable[[Request, Any], Awaitable[Response]]


def route_handler(kit: KitContext, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: authenticate first, turn every error into a stable JSON answer."""

    async def endpoint(request: Request) -> Response:
        try:
            principal = await authenticate(kit, request)
            return await handler(request, principal)
        except MpesaKitError as exc:
            return error_response(exc)
        except Exception as exc:
            return unexpected_error_response(exc)

    return endpoint


async def read_json(request: Request) -> dict[str, Any]:
    """Return the request's JSON object body (numbers as Decimal), or raise a ValidationError."""
    try:
        data = json.loads(await request.body(), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(
            "the body is not JSON; send application/json", code=ErrorCode.INVALID_REQUEST
        ) from None
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    return data


def _stk_routes(kit: KitContext) -> list[BaseRoute]:
    async def initiate(request: Request, principal: Any) -> Response:
        body = await read_json(request)
        missing = [k for k in ("phoneNumber", "amount", "accountReference") if k not in body]
        if missing:
            raise ValidationError(
                f"missing {', '.join(missing)}; expected phoneNumber, amount, accountReference "
                "and optionally transactionDesc",
                missing=missing,
            )
        for name in ("phoneNumber", "accountReference", "transactionDesc"):
            if body.get(name) is not None and not isinstance(body[name], str | int):
                raise ValidationError(f"{name} must be text")
        result = await kit.stk.initiate(
            body["phoneNumber"],
            body["amount"],
            str(body["accountReference"]),
            body.get("transactionDesc"),
            initiated_by=str(principal),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        view = result.request
        status = 201 if result.created else 200
        if view.outcome_unknown and view.status.value == "PENDING":
            status = 202
        return JSONResponse(stk_push_dto(view), status_code=status)

    async def status(request: Request, principal: Any) -> Response:
        view = await kit.stk.get(request.path_params["request_id"])
        return JSONResponse(stk_push_dto(view))

    return [
        Route(
            "/stk-push/initiate",
            route_handler(kit, initiate),
            methods=["POST"],
            name="stk_push_initiate",
        ),
        Route(
            "/stk-push/{request_id}",
            route_handler(kit, status),
            methods=["GET"],
            name="stk_push_status",
        ),
    ]


def internal_routes(kit: KitContext) -> list[BaseRoute]:
    """Return the internal routes (relative to where the host mounts the app)."""
    return [*_stk_routes(kit), *statement_routes(kit), *payment_routes(kit), *openapi_routes(kit)]


def build_internal_app(kit: KitContext, middleware: Sequence[Middleware] = ()) -> Starlette:
    """Return the internal Starlette app for ``kit``."""
    return Starlette(
        routes=internal_routes(kit),
        middleware=list(middleware),
        exception_handlers=dict(JSON_EXCEPTION_HANDLERS),
    )
