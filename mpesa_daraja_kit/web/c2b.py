"""The C2B routes of the public app: ``POST /confirmation`` and ``POST /validation``.

Confirmation answers ``{"ResultCode": 0, "ResultDesc": "Accepted"}`` once the raw
body is stored — also when it then fails to parse (it waits in the callback log
for a fix and a replay). Validation answers ``{"ResultCode": "0", ...}`` or a
``C2B000xx`` rejection, within ``Settings.validation_timeout``. Both echo the
correlation id in ``X-Correlation-ID``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.web.context import CORRELATION_HEADER, incoming
from mpesa_daraja_kit.wire import C2BConfirmationAnswer, unstructure

if TYPE_CHECKING:
    from mpesa_daraja_kit.web.context import KitContext

__all__ = ["c2b_routes"]

Endpoint = Callable[[Request], Awaitable[Response]]


def _confirmation(kit: KitContext) -> Endpoint:
    answer = unstructure(C2BConfirmationAnswer())

    async def confirmation(request: Request) -> Response:
        callback = await incoming(request, CallbackKind.C2B_CONFIRMATION)
        await kit.c2b.handle_confirmation(callback)
        return JSONResponse(answer, headers={CORRELATION_HEADER: callback.correlation_id or ""})

    return confirmation


def _validation(kit: KitContext) -> Endpoint:
    async def validation(request: Request) -> Response:
        callback = await incoming(request, CallbackKind.C2B_VALIDATION)
        answer = await kit.c2b.handle_validation(callback)
        return JSONResponse(
            unstructure(answer), headers={CORRELATION_HEADER: callback.correlation_id or ""}
        )

    return validation


def c2b_routes(kit: KitContext) -> list[BaseRoute]:
    """Return the C2B routes (relative to where the host mounts the public app)."""
    return [
        Route("/confirmation", _confirmation(kit), methods=["POST"], name="c2b_confirmation"),
        Route("/validation", _validation(kit), methods=["POST"], name="c2b_validation"),
    ]
