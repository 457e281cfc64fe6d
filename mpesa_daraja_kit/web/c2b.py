"""Routes for c2b (filled in by its issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from mpesa_daraja_kit.web.context import KitContext

__all__ = ["c2b_routes"]


def c2b_routes(kit: KitContext) -> list[BaseRoute]:
    """Return the c2b routes."""
    return []
