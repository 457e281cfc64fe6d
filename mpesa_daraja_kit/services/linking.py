"""Linking: an STK Push request and a payment row are the same money.

The receipt decides first: an STK callback's ``MpesaReceiptNumber`` equals the
C2B confirmation's ``TransID`` (docs/architecture.md#linking-by-receipt). Only where
no receipt decides, the original plan's heuristic applies: same account reference (trimmed,
case-insensitive), same phone hash (C2B sends the hash, not the number),
amount within 0.01, the request created within 24 h before the payment,
status PENDING, COMPLETED or EXPIRED, not linked yet — nearest in time wins.

Whichever of the two arrives first, the link is made when the second arrives.
A request links to at most one payment (a unique column), so a second
payment with the same account and amount cannot steal a linked request. A
heuristic link is replaced when a receipt later proves it wrong; a receipt
link is never replaced.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mpesa_daraja_kit.clock import Clock
from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.enums import StkPushStatus
from mpesa_daraja_kit.events import PaymentLinked, StkPushUpdated
from mpesa_daraja_kit.services.outbox import EventOutbox

__all__ = ["HEURISTIC", "HEURISTIC_WINDOW", "RECEIPT", "Linker"]

RECEIPT = "receipt"
HEURISTIC = "heuristic"
HEURISTIC_WINDOW = timedelta(hours=24)
# The payment's time comes from M-Pesa's clock, the request's from ours: allow skew.
_CLOCK_SKEW = timedelta(minutes=10)
_TOLERANCE = Decimal("0.01")

ITEMS = payment_items
REQUESTS = stk_requests


# Built once: a link is looked up for every payment recorded (bind parameters, no
# per-call statement construction). The heuristic's shape matches idx_stk_link_heuristic.
_BY_RECEIPT = sa.select(REQUESTS).where(REQUESTS.c.receipt_number == sa.bindparam("receipt"))
_CANDIDATES = (
    sa.select(REQUESTS)
    .where(
        REQUESTS.c.account_key == sa.bindparam("account_key"),
        REQUESTS.c.phone_hash == sa.bindparam("phone_hash"),
        REQUESTS.c.amount.between(sa.bindparam("low"), sa.bindparam("high")),
        REQUESTS.c.status.in_(
            [StkPushStatus.PENDING, StkPushStatus.COMPLETED, StkPushStatus.EXPIRED]
        ),
        REQUESTS.c.linked_transaction_id.is_(None),
        REQUESTS.c.receipt_number.is_(None),
        REQUESTS.c.created_at >= sa.bindparam("since"),
        REQUESTS.c.created_at <= sa.bindparam("until"),
    )
    .order_by(REQUESTS.c.created_at.desc())
    .limit(5)
)


class Linker:
    """Make and correct links between payment rows and STK requests."""

    def __init__(self, outbox: EventOutbox, *, clock: Clock) -> None:
        self._outbox = outbox
        self._clock = clock

    async def link_payment(self, conn: AsyncConnection, payment: Any) -> bool:
        """Link a (new or enriched) payment row to its request: receipt first, heuristic second."""
        request = (
            await conn.execute(_BY_RECEIPT, {"receipt": payment.transaction_reference})
        ).first()
        if request is not None:
            return await self.link(conn, payment, request, RECEIPT)
        if payment.mpesa_stk_push_request_id is not None:
            return False
        for candidate in await self._candidates(conn, payment):
            if await self.link(conn, payment, candidate, HEURISTIC):
                return True
        return False

    async def _candidates(self, conn: AsyncConnection, payment: Any) -> list[Any]:
        if not (payment.account_key and payment.msisdn_hash and payment.paid_in):
            return []
        when = payment.completion_time
        params = {
            "account_key": payment.account_key,
            "phone_hash": payment.msisdn_hash,
            "low": payment.paid_in - _TOLERANCE,
            "high": payment.paid_in + _TOLERANCE,
            "since": when - HEURISTIC_WINDOW,
            "until": when + _CLOCK_SKEW,
        }
        rows = list((await conn.execute(_CANDIDATES, params)).all())
        # A live prompt beats an expired one (the customer answered the live one); then
        # a prompt made before the payment beats one made after it (the clock-skew
        # allowance is no reason to prefer a later prompt); then the nearest in time.
        rows.sort(
            key=lambda r: (
                r.status is StkPushStatus.EXPIRED,
                r.created_at > when,
                abs(r.created_at - when),
            )
        )
        return rows

    async def link(self, conn: AsyncConnection, payment: Any, request: Any, method: str) -> bool:
        """Link ``payment`` and ``request``; fire ``mpesa_payment_linked`` when the link is new."""
        receipt = payment.transaction_reference
        now = self._clock()
        if method == RECEIPT:
            # A receipt is proof: undo heuristic guesses that contradict it.
            await conn.execute(
                sa.update(ITEMS)
                .where(ITEMS.c.mpesa_stk_push_request_id == request.id, ITEMS.c.id != payment.id)
                .values(mpesa_stk_push_request_id=None, link_method=None, updated_at=now)
            )
            previous = payment.mpesa_stk_push_request_id
            if previous is not None and previous != request.id:
                await conn.execute(
                    sa.update(REQUESTS)
                    .where(REQUESTS.c.id == previous)
                    .values(linked_transaction_id=None, updated_at=now)
                )
            result = await conn.execute(
                sa.update(ITEMS)
                .where(
                    ITEMS.c.id == payment.id,
                    sa.or_(
                        ITEMS.c.mpesa_stk_push_request_id.is_(None),
                        ITEMS.c.mpesa_stk_push_request_id != request.id,
                    ),
                )
                .values(mpesa_stk_push_request_id=request.id, link_method=RECEIPT, updated_at=now)
            )
            await conn.execute(
                sa.update(REQUESTS)
                .where(REQUESTS.c.id == request.id)
                .values(linked_transaction_id=receipt, updated_at=now)
            )
            if result.rowcount != 1:
                # Already linked to this request (maybe by the heuristic): now proven.
                await conn.execute(
                    sa.update(ITEMS)
                    .where(ITEMS.c.id == payment.id)
                    .values(link_method=RECEIPT, updated_at=now)
                )
                return False
        else:
            claimed = await conn.execute(
                sa.update(REQUESTS)
                .where(REQUESTS.c.id == request.id, REQUESTS.c.linked_transaction_id.is_(None))
                .values(linked_transaction_id=receipt, updated_at=now)
            )
            if claimed.rowcount != 1:
                return False
            result = await conn.execute(
                sa.update(ITEMS)
                .where(ITEMS.c.id == payment.id, ITEMS.c.mpesa_stk_push_request_id.is_(None))
                .values(mpesa_stk_push_request_id=request.id, link_method=HEURISTIC, updated_at=now)
            )
            if result.rowcount != 1:
                await conn.execute(
                    sa.update(REQUESTS)
                    .where(REQUESTS.c.id == request.id)
                    .values(linked_transaction_id=None, updated_at=now)
                )
                return False
        await self._outbox.add(
            conn,
            PaymentLinked(
                occurred_at=self._clock(),
                payment_id=str(payment.id),
                stk_push_request_id=str(request.id),
                receipt_number=receipt,
                account_reference=request.account_reference,
                host_account_id=request.host_account_id,
                amount=payment.paid_in if payment.paid_in is not None else request.amount,
                method=method,
            ),
        )
        if request.status is StkPushStatus.EXPIRED:
            await self.complete_paid(
                conn,
                request,
                receipt=receipt,
                result_code=request.result_code,
                result_desc=request.result_desc,
            )
        return True

    async def complete_paid(
        self,
        conn: AsyncConnection,
        request: Any,
        *,
        receipt: str,
        result_code: str | None,
        result_desc: str | None,
    ) -> bool:
        """Complete a prompt whose money arrived and is linked to it (money moved).

        From the status ``request`` has (PENDING, or EXPIRED), decided by the
        database; one ``PENDING|EXPIRED → COMPLETED`` event. Its
        ``receipt_number`` stays empty: a heuristic match is evidence, not proof,
        and the receipt column is what a later callback is checked against. The
        receipt is in ``linked_transaction_id`` and in the event.
        """
        now = self._clock()
        result = await conn.execute(
            sa.update(REQUESTS)
            .where(REQUESTS.c.id == request.id, REQUESTS.c.status == request.status)
            .values(
                status=StkPushStatus.COMPLETED,
                result_code=result_code[:20] if result_code is not None else None,
                result_desc=result_desc[:500] if result_desc is not None else None,
                completed_at=now,
                active_phone=None,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            return False
        await self._outbox.add(
            conn,
            StkPushUpdated.for_request(
                request,
                occurred_at=now,
                status=StkPushStatus.COMPLETED.value,
                previous_status=request.status.value,
                result_code=result_code,
                result_desc=result_desc,
                receipt_number=receipt,
            ),
        )
        return True
