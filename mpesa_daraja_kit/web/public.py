"""The public app: Safaricom's callbacks. No authentication (Safaricom signs nothing).

Each callback answers Accepted as soon as its raw body is stored — even when it
then fails to parse (it waits in the callback log for a fix and a replay).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.web.c2b import c2b_routes
from mpesa_daraja_kit.web.context import CORRELATION_HEADER, KitContext, incoming
from mpesa_daraja_kit.web.responses import JSON_EXCEPTION_HANDLERS

__all__ = ["ACCEPTED", "build_public_app", "incoming"]

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def _stk_callback(kit: KitContext) -> Callable[[Request], Any]:
    async def stk_callback(request: Request) -> Response:
        callback = await incoming(request, CallbackKind.STK_CALLBACK)
        await kit.stk.handle_callback(callback)
        return JSONResponse(ACCEPTED, headers={CORRELATION_HEADER: callback.correlation_id or ""})

    return stk_callback


def public_routes(kit: KitContext) -> list[BaseRoute]:
    """Return the callback routes (relative to where the host mounts the app)."""
    routes: list[BaseRoute] = [
        Route("/stk-push/callback", _stk_callback(kit), methods=["POST"], name="stk_callback"),
    ]
    routes.extend(c2b_routes(kit))
    return routes


def build_public_app(kit: KitContext, middleware: Sequence[Middleware] = ()) -> Starlette:
    """Return the public Starlette app for ``kit``."""
    return Starlette(
        routes=public_routes(kit),
        middleware=list(middleware),
        exception_handlers=dict(JSON_EXCEPTION_HANDLERS),
    )
