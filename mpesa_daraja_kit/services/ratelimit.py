"""Abuse limits on STK initiation: a customer's phone must not be spammed with prompts.

Every prompt is a row in ``mpesa_stk_push_requests`` stamped with its phone and
its ``initiated_by`` principal, so the limits count rows in the database rather
than keep counters in process memory: every worker and host sharing the
database sees the same count. Counting before inserting is not atomic, so a
burst of concurrent requests can overshoot a limit by the number racing at
once; the unique ``active_phone`` column already stops two *open* prompts on
one phone, which is the harm that matters most.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.models import stk_requests
from mpesa_daraja_kit.errors import RateLimited

__all__ = ["InitiationLimits"]

REQUESTS = stk_requests


class InitiationLimits:
    """Refuse an initiation when its phone or its principal started too many prompts lately."""

    def __init__(self, engine: AsyncEngine, settings: Settings, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock

    async def check(self, phone: str, principal: str | None) -> None:
        """Raise :class:`RateLimited` (with ``retry_after`` seconds) when a limit is reached.

        Args:
            phone: the normalised phone number (never put in the error).
            principal: the caller's ``initiated_by``; None skips the principal limit.
        """
        s = self._settings
        checks: list[tuple[str, Any, int, float]] = [
            (
                "phone",
                REQUESTS.c.phone_number == phone,
                s.stk_rate_phone_limit,
                s.stk_rate_phone_window,
            ),
        ]
        if principal is not None:
            checks.append(
                (
                    "principal",
                    REQUESTS.c.initiated_by == principal[:255],
                    s.stk_rate_principal_limit,
                    s.stk_rate_principal_window,
                )
            )
        now = self._clock()
        for scope, condition, limit, window in checks:
            if limit <= 0:
                continue
            since = now - timedelta(seconds=window)
            oldest = await self._oldest_over(condition, since, limit)
            if oldest is None:
                continue
            wait = max(1, math.ceil((oldest + timedelta(seconds=window) - now).total_seconds()))
            what = "this phone" if scope == "phone" else "this caller"
            raise RateLimited(
                f"too many payment prompts for {what}: at most {limit} in "
                f"{_duration(window)}; try again in {wait} s",
                retry_after=wait,
                scope=scope,
                limit=limit,
                window_seconds=int(window),
            )

    async def _oldest_over(self, condition: Any, since: datetime, limit: int) -> datetime | None:
        """Return the oldest of the last ``limit`` prompts in the window, or None if fewer."""
        async with self._engine.connect() as conn:
            times = (
                await conn.scalars(
                    sa.select(REQUESTS.c.created_at)
                    .where(condition, REQUESTS.c.created_at > since)
                    .order_by(REQUESTS.c.created_at.desc())
                    .limit(limit)
                )
            ).all()
        return times[-1] if len(times) >= limit else None


def _duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{int(seconds // 60)} minutes"
    return f"{seconds:g} s"
