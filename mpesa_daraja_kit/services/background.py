"""One background task a service runs while ``MpesaKit.lifespan`` is entered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["BackgroundLoop"]


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
