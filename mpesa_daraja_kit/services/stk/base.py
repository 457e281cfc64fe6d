"""The STK service's shared part: its settlement and result types, and reading requests."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa

from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.enums import StkPushStatus
from mpesa_daraja_kit.errors import NotFound
from mpesa_daraja_kit.log import get_logger
from mpesa_daraja_kit.phone import mask_msisdn
from mpesa_daraja_kit.services.flow import Flow
from mpesa_daraja_kit.services.ratelimit import InitiationLimits
from mpesa_daraja_kit.services.views import StkPushView
from mpesa_daraja_kit.wire import StkCallback


class _LoopSemaphores:
    """One semaphore per event loop (a kit may be served by a loop other than its creator's)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._by_loop = weakref.WeakKeyDictionary()

    def get(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self._size)
        return semaphore


log = get_logger("stk")
REQUESTS = stk_requests
ITEMS = payment_items
DEFAULT_DESCRIPTION = "Payment"

UNVERIFIED = "unverified"
"""``error_code`` of a success callback that STK Push Query did not confirm (kept, not applied)."""


@attrs.frozen
class InitiateResult:
    """An initiated (or idempotently returned) STK Push request."""

    request: StkPushView
    created: bool
    """False when an earlier request with the same idempotency key was returned."""


@attrs.frozen(kw_only=True)
class Settlement:
    """A final answer about a prompt, from a callback or from STK Push Query."""

    status: StkPushStatus
    result_code: str
    result_desc: str
    receipt_number: str | None = None
    amount: Decimal | None = None
    transaction_date: datetime | None = None
    # Personal data: a repr (a traceback, a log line) shows it masked.
    phone_number: str | None = attrs.field(
        default=None, repr=lambda v: "None" if v is None else repr(mask_msisdn(str(v)))
    )
    verified: bool = False

    @classmethod
    def from_callback(cls, cb: StkCallback) -> Settlement:
        """Build a settlement from a parsed callback."""
        return cls(
            status=cb.status,
            result_code=cb.result_code,
            result_desc=cb.result_desc,
            receipt_number=cb.receipt_number if cb.succeeded else None,
            amount=cb.amount,
            transaction_date=cb.transaction_date,
            phone_number=cb.phone_number,
        )


class StkBase(Flow):
    """What every part of the STK service shares: its collaborators, and reading requests."""

    def _setup(self) -> None:
        """Per-principal and per-phone limits; this worker's initiation slots."""
        self._limits = InitiationLimits(self._engine, self._settings, clock=self._clock)
        self._slots = _LoopSemaphores(self._settings.stk_max_concurrent_initiations)

    # -- reading --------------------------------------------------------------------

    async def get(self, request_id: uuid.UUID | str) -> StkPushView:
        """Return one request by the kit's id (or by its CheckoutRequestID)."""
        condition: Any
        try:
            condition = REQUESTS.c.id == uuid.UUID(str(request_id))
        except ValueError:
            condition = REQUESTS.c.checkout_request_id == str(request_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(REQUESTS).where(condition))).first()
        if row is None:
            raise NotFound(f"no STK push request {str(request_id)[:100]!r}")
        return StkPushView.from_row(row)

    async def list_pending(self, limit: int = 100) -> Sequence[StkPushView]:
        """Return PENDING requests, oldest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(REQUESTS)
                    .where(REQUESTS.c.status == StkPushStatus.PENDING)
                    .order_by(REQUESTS.c.created_at)
                    .limit(limit)
                )
            ).all()
        return [StkPushView.from_row(r) for r in rows]
