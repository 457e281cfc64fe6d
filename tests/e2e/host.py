"""A test host served by uvicorn: mounts the kit like a real host, under the plan's paths.

The kit's callback URL must name the server's port, which is only known once
the server listens; so the host is served first, the kit built second and
attached, and the kit's lifespan entered on the first request (in the server's
own event loop, where the kit's connections will live).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from mpesa_daraja_kit.kit import MpesaKit


class LateKitHost:
    """An ASGI host whose kit is attached after the server has started."""

    def __init__(self) -> None:
        self.kit: MpesaKit | None = None
        self._app: Starlette | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None

    def attach(self, kit: MpesaKit) -> None:
        """Mount ``kit`` at ``/api/public/mpesa`` and ``/api/internal/mpesa``."""
        self.kit = kit
        self._app = Starlette(
            routes=[
                Mount("/api/public/mpesa", kit.public_app, name="mpesa_public"),
                Mount("/api/internal/mpesa", kit.internal_app, name="mpesa_internal"),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self._app is not None and self.kit is not None, "attach a kit first"
        if self._stack is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._stack is None:
                    stack = contextlib.AsyncExitStack()
                    await stack.enter_async_context(self.kit.lifespan())
                    self._stack = stack
        await self._app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Any = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._stack is not None:
                    await self._stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
