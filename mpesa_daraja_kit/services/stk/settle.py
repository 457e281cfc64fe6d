"""Settling an STK request: a final status once, its event, and the money of a success."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mpesa_daraja_kit.enums import PaymentSource, StatementReasonType, StkPushStatus
from mpesa_daraja_kit.errors import NotFound, ValidationError
from mpesa_daraja_kit.events import StkPushUpdated
from mpesa_daraja_kit.phone import hash_msisdn, normalize_msisdn
from mpesa_daraja_kit.services.ledger import MoneyReceived
from mpesa_daraja_kit.services.stk.base import REQUESTS, Settlement, StkBase


class StkSettling(StkBase):
    """Move requests to their final status and record the money a success moved."""

    async def settle(self, request_id: uuid.UUID, settlement: Settlement) -> bool:
        """Apply a final answer (e.g. from STK Push Query); False when it changes nothing."""
        async with self._outbox.transaction() as conn:
            row = (
                await conn.execute(sa.select(REQUESTS).where(REQUESTS.c.id == request_id))
            ).first()
            if row is None:
                raise NotFound(f"no STK push request {request_id}")
            applied = await self._settle(conn, row, settlement)
        return applied

    async def _settle(self, conn: AsyncConnection, row: Any, settlement: Settlement) -> bool:
        """Move ``row`` to a final status unless it already has one (EXPIRED yields to success)."""
        status = settlement.status
        allowed = [StkPushStatus.PENDING]
        if status is StkPushStatus.COMPLETED:
            allowed.append(StkPushStatus.EXPIRED)
        now = self._clock()
        values: dict[str, Any] = {
            "status": status,
            "result_code": settlement.result_code[:20],
            "result_desc": settlement.result_desc[:500],
            "completed_at": now,
            "active_phone": None,
            "updated_at": now,
        }
        if settlement.receipt_number:
            values["receipt_number"] = settlement.receipt_number
            values["transaction_date"] = settlement.transaction_date
        if settlement.verified:
            values["verified_at"] = now
        unpaid = status is not StkPushStatus.COMPLETED
        where = [REQUESTS.c.id == row.id, REQUESTS.c.status.in_(allowed)]
        if unpaid:
            # Linked to money received means paid: never expired, failed or cancelled.
            # The database decides, so a link committed meanwhile is not overwritten.
            where.append(REQUESTS.c.linked_transaction_id.is_(None))
        result = await conn.execute(sa.update(REQUESTS).where(*where).values(**values))
        if result.rowcount != 1:
            if status is StkPushStatus.COMPLETED and settlement.receipt_number:
                return await self._late_receipt(conn, row, settlement)
            if unpaid:
                return await self._paid_by_link(conn, row, settlement)
            return False
        await self._outbox.add(
            conn,
            StkPushUpdated.for_request(
                row,
                occurred_at=self._clock(),
                status=status.value,
                previous_status=row.status.value,
                result_code=settlement.result_code,
                result_desc=settlement.result_desc,
                receipt_number=settlement.receipt_number,
            ),
        )
        if status is StkPushStatus.COMPLETED and settlement.receipt_number:
            fresh = (await conn.execute(sa.select(REQUESTS).where(REQUESTS.c.id == row.id))).one()
            await self._record_payment(conn, fresh, settlement)
        return True

    async def _paid_by_link(self, conn: AsyncConnection, row: Any, settlement: Settlement) -> bool:
        """Complete a PENDING prompt linked to money received, whatever Daraja or the deadline say.

        Its ``receipt_number`` stays empty (a heuristic link is evidence, not
        proof; the receipt column is what a later callback is checked against);
        the linked receipt is in ``linked_transaction_id`` and in the event.
        """
        fresh = (
            await conn.execute(
                sa.select(REQUESTS).where(
                    REQUESTS.c.id == row.id,
                    REQUESTS.c.status == StkPushStatus.PENDING,
                    REQUESTS.c.linked_transaction_id.is_not(None),
                )
            )
        ).first()
        if fresh is None:
            return False
        desc = (
            f"paid: linked to {fresh.linked_transaction_id}; "
            f"Daraja/kit said {settlement.status.value}: {settlement.result_desc}"
        )
        return await self._ledger.linker.complete_paid(
            conn,
            fresh,
            receipt=fresh.linked_transaction_id,
            result_code=settlement.result_code,
            result_desc=desc,
        )

    async def _late_receipt(self, conn: AsyncConnection, row: Any, settlement: Settlement) -> bool:
        """Record the money of a success callback that came after a query completed the request.

        STK Push Query carries no receipt: a request it settled is COMPLETED with
        no receipt and no payment row. The callback that arrives later is the
        only record of the money on a paybill without C2B URLs, so it is kept —
        without a second status event (the status does not change).
        """
        now = self._clock()
        filled = await conn.execute(
            sa.update(REQUESTS)
            .where(
                REQUESTS.c.id == row.id,
                REQUESTS.c.status == StkPushStatus.COMPLETED,
                REQUESTS.c.receipt_number.is_(None),
            )
            .values(
                receipt_number=settlement.receipt_number,
                transaction_date=settlement.transaction_date,
                updated_at=now,
            )
        )
        if filled.rowcount != 1:
            return False
        fresh = (await conn.execute(sa.select(REQUESTS).where(REQUESTS.c.id == row.id))).one()
        await self._record_payment(conn, fresh, settlement)
        return True

    async def _record_payment(self, conn: AsyncConnection, request: Any, s: Settlement) -> None:
        """Record the money of a successful prompt through the ledger, linked by its receipt.

        A row another source recorded is confirmed by the callback; a heuristic
        guess that pointed this request at another payment is undone by the link.
        """
        receipt = s.receipt_number
        assert receipt is not None
        phone = request.phone_number
        if s.phone_number:
            with contextlib.suppress(ValidationError):
                phone = normalize_msisdn(s.phone_number)
        money = MoneyReceived(
            receipt_number=receipt,
            source=PaymentSource.STK_CALLBACK,
            amount=s.amount if s.amount is not None else request.amount,
            completion_time=s.transaction_date or self._clock(),
            confirmed_column="confirmed_by_stk_at",
            columns={
                "transaction_type": self._settings.transaction_kind.daraja_transaction_type,
                "reason_type": StatementReasonType.PayBill_STK,
                "account_number": request.account_reference,
                "account_key": request.account_key,
                "host_account_id": request.host_account_id,
                "msisdn": phone,
                "msisdn_hash": hash_msisdn(phone),
                "business_short_code": self._settings.business_short_code or None,
            },
            # Each callback settles its request once; the stamp says the prompt saw it.
            once=False,
            account_reference=request.account_reference,
            request=request,
        )
        await self._ledger.receive(conn, money)
