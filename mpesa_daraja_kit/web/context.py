"""What the web layer needs from the kit: settings, hooks and services (no models, no client)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import pluggy
from starlette.requests import Request

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.errors import ErrorCode, MpesaKitError, Unauthenticated
from mpesa_daraja_kit.plugins import ask, has_host_implementation
from mpesa_daraja_kit.services.callbacks import CallbackLogService, IncomingCallback
from mpesa_daraja_kit.services.stk import StkService

__all__ = [
    "CORRELATION_HEADER",
    "KitContext",
    "authenticate",
    "correlation_id",
    "incoming",
    "source_address",
]

CORRELATION_HEADER = "X-Correlation-ID"


class KitContext(Protocol):
    """The parts of ``MpesaKit`` the apps use."""

    settings: Settings
    pm: pluggy.PluginManager
    callbacks: CallbackLogService
    stk: StkService

    @property
    def c2b(self) -> Any: ...

    @property
    def statements(self) -> Any: ...

    @property
    def payments(self) -> Any: ...


def correlation_id(request: Request) -> str:
    """Return the caller's ``X-Correlation-ID`` (trimmed to 64 characters) or a new one."""
    given = request.headers.get(CORRELATION_HEADER, "").strip()
    return given[:64] if given else uuid.uuid4().hex


def source_address(request: Request) -> str | None:
    """Return the peer address as the ASGI server saw it (guards resolve proxies first)."""
    resolved = request.scope.get("mpesa.client_address")
    if resolved:
        return str(resolved)
    return request.client.host if request.client else None


async def incoming(request: Request, kind: CallbackKind) -> IncomingCallback:
    """Read a callback request into an :class:`IncomingCallback`."""
    return IncomingCallback(
        kind=kind,
        body=await request.body(),
        content_type=request.headers.get("content-type"),
        source_address=source_address(request),
        correlation_id=correlation_id(request),
    )


async def authenticate(kit: KitContext, request: Request) -> Any:
    """Return the principal for an internal request, or raise.

    With no ``mpesa_authenticate`` implementation at all the internal app
    refuses everything rather than run open.
    """
    if not has_host_implementation(kit.pm, "mpesa_authenticate"):
        raise MpesaKitError(
            "the internal app has no authentication: implement the mpesa_authenticate hook",
            code=ErrorCode.AUTHENTICATION_NOT_CONFIGURED,
        )
    principal = await ask(kit.pm, "mpesa_authenticate", request=request)
    if principal is None:
        raise Unauthenticated("authentication required")
    return principal
