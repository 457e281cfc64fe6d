"""Deliver callbacks over HTTP in background tasks, and remember every attempt.

Deliveries never hold up an API answer: each runs as an asyncio task owned by
the simulator (started and cancelled in its lifespan). Every attempt is
recorded with the HTTP status the receiver gave, so tests and the control
endpoint ``GET /simulator/callbacks`` can see what was delivered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs
import httpx

from mpesa_daraja_kit.clock import Clock
from mpesa_daraja_kit.simulator.config import RetryPolicy
from mpesa_daraja_kit.simulator.payloads import dumps_daraja

__all__ = ["Delivery", "DeliveryKind", "Dispatcher"]

_MAX_ANSWER_CHARS = 2000


class DeliveryKind(StrEnum):
    """Which callback a delivery carried."""

    STK_CALLBACK = "stk_callback"
    C2B_VALIDATION = "c2b_validation"
    C2B_CONFIRMATION = "c2b_confirmation"


@attrs.frozen(kw_only=True)
class Delivery:
    """One attempt to post a callback, and what the receiver answered."""

    id: int
    kind: DeliveryKind
    url: str
    body: dict[str, Any]
    reference: str
    attempt: int
    sent_at: datetime
    status_code: int | None
    answer: str
    error: str | None

    @property
    def ok(self) -> bool:
        """Tell whether the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_dict(self) -> dict[str, Any]:
        """Return the delivery as JSON-ready values."""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "url": self.url,
            "reference": self.reference,
            "attempt": self.attempt,
            "sent_at": self.sent_at.isoformat(),
            "status_code": self.status_code,
            "ok": self.ok,
            "answer": self.answer,
            "error": self.error,
            "body": self.body,
        }


class Dispatcher:
    """Post callbacks with a bounded retry policy; own the background tasks."""

    def __init__(self, retry: RetryPolicy, clock: Clock) -> None:
        self._retry = retry
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._records: list[Delivery] = []
        self._changed = threading.Condition()

    # -- lifecycle --------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        # Created lazily so the app also works where no lifespan runs (ASGITransport).
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; it is cancelled when the simulator stops."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_all(self) -> None:
        """Cancel every pending delivery (reset, shutdown)."""
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """Cancel pending deliveries and close the HTTP client."""
        tasks = list(self._tasks)
        self.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- records ----------------------------------------------------------------------

    def records(self, kind: DeliveryKind | None = None) -> list[Delivery]:
        """Return the attempts so far (optionally of one kind), oldest first."""
        with self._changed:
            return [d for d in self._records if kind is None or d.kind is kind]

    def clear(self) -> None:
        """Forget every recorded attempt."""
        with self._changed:
            self._records.clear()
            self._changed.notify_all()

    def wait_for(
        self, count: int, *, kind: DeliveryKind | None = None, timeout: float = 10.0
    ) -> list[Delivery]:
        """Block until ``count`` attempts (of ``kind``) are recorded; return them.

        Raises:
            TimeoutError: when fewer arrived within ``timeout`` seconds.
        """
        with self._changed:
            done = self._changed.wait_for(lambda: len(self.records(kind)) >= count, timeout=timeout)
            found = self.records(kind)
        if not done:
            raise TimeoutError(
                f"expected {count} {kind or 'callback'} deliveries within {timeout} s, "
                f"got {len(found)}"
            )
        return found

    def _record(self, **values: Any) -> Delivery:
        with self._changed:
            delivery = Delivery(id=len(self._records) + 1, **values)
            self._records.append(delivery)
            self._changed.notify_all()
        return delivery

    # -- delivery ---------------------------------------------------------------------

    async def post(
        self,
        kind: DeliveryKind,
        url: str,
        body: dict[str, Any],
        *,
        reference: str,
        answer_within: float | None = None,
        retry: bool = True,
    ) -> Delivery:
        """Post ``body`` to ``url``, retrying per the policy; return the last attempt.

        ``answer_within`` overrides the policy's per-attempt timeout (the C2B
        validation deadline); ``retry=False`` makes a single attempt.
        """
        attempts = self._retry.attempts if retry else 1
        pause = self._retry.backoff
        content = dumps_daraja(body)
        delivery: Delivery | None = None
        for attempt in range(1, attempts + 1):
            delivery = await self._attempt(
                kind, url, body, content, reference, attempt, answer_within or self._retry.timeout
            )
            failed = delivery.status_code is None or (
                self._retry.retry_on_status and not delivery.ok
            )
            if not failed or attempt == attempts:
                break
            await asyncio.sleep(pause)
            pause *= 2
        assert delivery is not None
        return delivery

    async def _attempt(
        self,
        kind: DeliveryKind,
        url: str,
        body: dict[str, Any],
        content: bytes,
        reference: str,
        attempt: int,
        answer_within: float,
    ) -> Delivery:
        sent_at = self._clock()
        status: int | None = None
        answer = ""
        error: str | None = None
        try:
            response = await self._http().post(
                url,
                content=content,
                headers={"Content-Type": "application/json"},
                timeout=httpx.Timeout(answer_within),
            )
            status = response.status_code
            answer = response.text[:_MAX_ANSWER_CHARS]
        except httpx.TimeoutException:
            error = f"no answer within {answer_within} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        return self._record(
            kind=kind,
            url=url,
            body=body,
            reference=reference,
            attempt=attempt,
            sent_at=sent_at,
            status_code=status,
            answer=answer,
            error=error,
        )
