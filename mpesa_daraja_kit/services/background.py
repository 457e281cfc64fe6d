"""One background task a service runs while ``MpesaKit.lifespan`` is entered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from mpesa_daraja_kit.log import get_logger

__all__ = ["BackgroundLoop", "BackgroundService", "every"]

log = get_logger("background")


class BackgroundLoop:
    """Start, stop and report on one named asyncio task running ``body``."""

    def __init__(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._body = body
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Tell whether the task runs in this process."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the task unless it already runs."""
        if not self.running:
            self._task = asyncio.create_task(self._body(), name=self._name)

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class BackgroundService:
    """A service with one background loop that ``MpesaKit.lifespan`` starts and stops."""

    _loop: BackgroundLoop

    @property
    def running(self) -> bool:
        """Tell whether the background loop runs in this process."""
        return self._loop.running

    def start(self) -> None:
        """Start the background loop."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop the background loop (its work is picked up again on the next start)."""
        await self._loop.stop()


async def every(
    interval: float, step: Callable[[], Coroutine[Any, Any, object]], what: str
) -> None:
    """Run ``step`` every ``interval`` seconds for ever; a failure is logged and tried again."""
    while True:
        try:
            await step()
        except Exception:
            log.warning("%s failed; retrying", what, exc_info=True)
        await asyncio.sleep(interval)
