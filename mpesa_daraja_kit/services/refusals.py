"""Refused callbacks: what a guard turned away, kept for the operator, never as a payment.

A refused request (address not allowed, wrong path secret, oversized body,
wrong content type) is written to the callback log in **one** insert whose
outcome is already ``REFUSED``: a row that was ever ``RECEIVED`` could be
picked up by a replay and applied, and a refused body is exactly the one that
must never be applied. Only a bounded prefix of the body is kept (an oversized
body is never read in full).
"""

from __future__ import annotations

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.db.models import callback_log
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome

__all__ = ["Refusal", "RefusalLog"]


@attrs.frozen(kw_only=True)
class Refusal:
    """One request a guard refused."""

    kind: CallbackKind
    body_prefix: bytes
    body_complete: bool
    reason: str
    """A stable reason code: ``address_not_allowed``, ``wrong_path_secret``, …"""
    message: str
    content_type: str | None = None
    source_address: str | None = None
    correlation_id: str | None = None


class RefusalLog:
    """Store refused callbacks with outcome ``REFUSED``."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def record(self, refusal: Refusal) -> int:
        """Insert the refusal and return its callback log id."""
        now = self._clock()
        message = refusal.message
        if not refusal.body_complete:
            message += f" (only the first {len(refusal.body_prefix)} bytes were kept)"
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.insert(callback_log).values(
                    kind=refusal.kind,
                    outcome=CallbackOutcome.REFUSED,
                    raw_body=refusal.body_prefix,
                    content_type=(refusal.content_type or "")[:255] or None,
                    source_address=(refusal.source_address or "")[:64] or None,
                    correlation_id=(refusal.correlation_id or "")[:64] or None,
                    error_code=refusal.reason[:64],
                    error_message=message[:1000],
                    attempts=0,
                    received_at=now,
                    processed_at=now,
                )
            )
        key = result.inserted_primary_key
        return int(key[0]) if key else 0
