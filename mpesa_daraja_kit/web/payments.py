"""Routes for payments (filled in by its issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from mpesa_daraja_kit.web.context import KitContext

__all__ = ["payment_routes"]


def payment_routes(kit: KitContext) -> list[BaseRoute]:
    """Return the payments routes."""
    return []
