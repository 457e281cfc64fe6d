"""A tiny callback receiver for end-to-end tests: records what Daraja (the simulator) posts."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


@attrs.frozen
class Received:
    """One POST the receiver got."""

    path: str
    body: Any
    raw: bytes
    content_type: str


@attrs.define
class Answer:
    """How the receiver answers one path."""

    status: int = 200
    body: Any = attrs.field(factory=lambda: dict(ACCEPTED))
    latency: float = 0.0


class CallbackReceiver:
    """A Starlette app that records every POST; answers are configurable per path."""

    def __init__(self) -> None:
        self._received: list[Received] = []
        self._answers: dict[str, Answer] = {}
        self._changed = threading.Condition()
        self._released = threading.Event()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])
        self.base_url = ""

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` on the served receiver."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def answer(
        self, path: str, *, status: int = 200, body: Any = None, latency: float = 0.0
    ) -> None:
        """Answer POSTs to ``path`` with ``status``/``body`` after ``latency`` seconds."""
        self._answers["/" + path.lstrip("/")] = Answer(
            status=status, body=dict(ACCEPTED) if body is None else body, latency=latency
        )

    async def _receive(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw, parse_float=Decimal)
        except ValueError:
            body = None
        with self._changed:
            self._received.append(
                Received(request.url.path, body, raw, request.headers.get("content-type", ""))
            )
            self._changed.notify_all()
        answer = self._answers.get(request.url.path, Answer())
        if answer.latency:
            # The receiver being slow (not the test waiting); release() cuts it short.
            await asyncio.to_thread(self._released.wait, answer.latency)
        if isinstance(answer.body, str):
            return Response(answer.body, status_code=answer.status, media_type="text/plain")
        return JSONResponse(answer.body, status_code=answer.status)

    def release(self) -> None:
        """End every slow answer now (before the server shuts down)."""
        self._released.set()

    def reset(self) -> None:
        """Release slow answers, forget what was received and every configured answer."""
        with self._changed:
            self._released.set()
            self._released = threading.Event()
            self._received.clear()
            self._answers.clear()

    def received(self, path: str | None = None) -> list[Received]:
        """Return what was posted so far (optionally to one path), oldest first."""
        with self._changed:
            return [r for r in self._received if path is None or r.path == "/" + path.lstrip("/")]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """Block until ``count`` POSTs (to ``path``) arrived; return them."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.received(path)) >= count, timeout)
            found = self.received(path)
        assert arrived, f"expected {count} callbacks to {path or 'any path'}, got {len(found)}"
        return found
