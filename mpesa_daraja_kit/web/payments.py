"""Payment listing route (internal app, authenticated)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mpesa_daraja_kit.clock import ensure_aware_utc
from mpesa_daraja_kit.enums import EntryKind, PaymentSource
from mpesa_daraja_kit.errors import InvalidTimestamp, ValidationError
from mpesa_daraja_kit.web.dto import payment_dto

if TYPE_CHECKING:
    from mpesa_daraja_kit.web.context import KitContext

__all__ = ["payment_routes"]

MAX_OFFSET = 1_000_000
"""Deepest page offered; narrow the period (``since``/``until``) to go further."""

_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidTimestamp(f"{name} {value[:40]!r} is not an ISO 8601 time") from None
    return ensure_aware_utc(parsed, field=name)


def _int(name: str, value: str | None, default: int, *, maximum: int = 1_000_000) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(f"{name} {value[:20]!r} is not a whole number") from None
    if number > maximum:
        raise ValidationError(f"{name} {value[:20]} is larger than {maximum}")
    return number


def _uuid(name: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValidationError(f"{name} {value[:40]!r} is not an upload id (a UUID)") from None


def payment_routes(kit: KitContext) -> list[BaseRoute]:
    """Return ``GET /payments``."""
    from mpesa_daraja_kit.web.internal import route_handler

    async def list_payments(request: Request, principal: Any) -> Response:
        q = request.query_params
        source = q.get("source")
        if source is not None and source not in PaymentSource.__members__:
            raise ValidationError(
                f"source {source[:20]!r} is not one of {', '.join(PaymentSource.__members__)}"
            )
        linked = q.get("linked")
        if linked is not None and linked.lower() not in _BOOL:
            raise ValidationError("linked must be true or false")
        kind = q.get("kind", EntryKind.RECEIVED.value)
        if kind != "all" and kind not in EntryKind.__members__:
            raise ValidationError(
                f"kind must be 'all' or one of {', '.join(EntryKind.__members__)}"
            )
        items = await kit.payments.list(
            source=PaymentSource(source) if source else None,
            account=q.get("account"),
            linked=_BOOL[linked.lower()] if linked is not None else None,
            since=_time("since", q.get("since")),
            until=_time("until", q.get("until")),
            kind=None if kind == "all" else EntryKind(kind),
            upload_id=_uuid("upload", q.get("upload")),
            limit=_int("limit", q.get("limit"), 100),
            offset=_int("offset", q.get("offset"), 0, maximum=MAX_OFFSET),
        )
        return JSONResponse({"items": [payment_dto(item) for item in items]})

    return [Route("/payments", route_handler(kit, list_payments), methods=["GET"], name="payments")]
