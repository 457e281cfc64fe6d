"""Missing C2B confirmations: a COMPLETED prompt whose money no confirmation ever reported.

With ``c2b_urls_registered`` every payment should reach the kit as a C2B
confirmation too; one that has not within ``missing_ipn_after`` is worth a
look (the URLs may have been unregistered). ``mpesa_stk_push_missing_ipn``
fires once per request: a conditional update on ``missing_ipn_notified_at`` is
the claim, so several workers running the reconciler fire it once.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.clock import Clock
from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.enums import PaymentSource, StkPushStatus
from mpesa_daraja_kit.events import StkPushMissingIpn
from mpesa_daraja_kit.services.outbox import EventOutbox

__all__ = ["notify_missing_ipn"]

REQUESTS = stk_requests
ITEMS = payment_items
# Only recently completed requests are watched for a missing confirmation, so turning
# the check on does not fire for years of history.
_MISSING_IPN_LOOKBACK = timedelta(days=7)


async def notify_missing_ipn(
    engine: AsyncEngine, outbox: EventOutbox, *, after: timedelta, clock: Clock
) -> int:
    """Queue ``StkPushMissingIpn`` for requests completed ``after`` ago and still unconfirmed.

    Returns how many were fired by this call. The caller delivers (after its pass).
    """
    now = clock()
    since = now - after
    confirmed = (
        sa.select(ITEMS.c.id)
        .where(
            sa.or_(
                ITEMS.c.mpesa_stk_push_request_id == REQUESTS.c.id,
                ITEMS.c.transaction_reference == REQUESTS.c.receipt_number,
            ),
            sa.or_(ITEMS.c.confirmed_by_ipn_at.is_not(None), ITEMS.c.source == PaymentSource.IPN),
        )
        .exists()
    )
    watched = sa.and_(
        REQUESTS.c.status == StkPushStatus.COMPLETED,
        REQUESTS.c.completed_at <= since,
        REQUESTS.c.completed_at >= now - _MISSING_IPN_LOOKBACK,
        REQUESTS.c.missing_ipn_notified_at.is_(None),
        ~confirmed,
    )
    fired = 0
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(REQUESTS).where(watched).order_by(REQUESTS.c.completed_at).limit(500)
            )
        ).all()
    for row in rows:
        async with engine.begin() as conn:
            # The conditional update is the claim: one worker fires the event once.
            claimed = await conn.execute(
                sa.update(REQUESTS)
                .where(REQUESTS.c.id == row.id, REQUESTS.c.missing_ipn_notified_at.is_(None))
                .values(missing_ipn_notified_at=now, updated_at=now)
            )
            if claimed.rowcount != 1:
                continue
            await outbox.add(
                conn,
                StkPushMissingIpn(
                    occurred_at=clock(),
                    stk_push_request_id=str(row.id),
                    receipt_number=row.receipt_number,
                    account_reference=row.account_reference,
                    amount=row.amount,
                    completed_at=row.completed_at,
                ),
            )
            fired += 1
    return fired
