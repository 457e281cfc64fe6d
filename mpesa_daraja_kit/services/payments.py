"""Reading payment rows: the list finance filters by source, account, link and period."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.enums import EntryKind, PaymentSource
from mpesa_daraja_kit.reference import account_key
from mpesa_daraja_kit.services.views import PaymentView

__all__ = ["PaymentService"]

MAX_LIMIT = 500


class PaymentService:
    """List and read payment rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(
        self,
        *,
        source: PaymentSource | None = None,
        account: str | None = None,
        linked: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kind: EntryKind | None = EntryKind.RECEIVED,
        upload_id: uuid.UUID | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[PaymentView]:
        """Return payment rows, newest first.

        Args:
            source: only rows first recorded by this source.
            account: only rows for this account reference (trimmed, any case).
            linked: only rows linked (True) or not linked (False) to an STK request.
            since, until: completion time window (aware datetimes).
            kind: money received by default; None for every statement movement.
            upload_id: only rows filled in by this statement upload.
            limit, offset: a page (limit at most 500).
        """
        t = payment_items
        stmt = sa.select(t).order_by(t.c.completion_time.desc(), t.c.id)
        if source is not None:
            stmt = stmt.where(t.c.source == source)
        if account:
            stmt = stmt.where(t.c.account_key == account_key(account))
        if linked is True:
            stmt = stmt.where(t.c.mpesa_stk_push_request_id.is_not(None))
        elif linked is False:
            stmt = stmt.where(t.c.mpesa_stk_push_request_id.is_(None))
        if since is not None:
            stmt = stmt.where(t.c.completion_time >= since)
        if until is not None:
            stmt = stmt.where(t.c.completion_time < until)
        if kind is not None:
            stmt = stmt.where(t.c.entry_kind == kind)
        if upload_id is not None:
            stmt = stmt.where(t.c.mpesa_payment_report_upload_id == uuid.UUID(str(upload_id)))
        stmt = stmt.limit(max(1, min(limit, MAX_LIMIT))).offset(max(0, offset))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [PaymentView.from_row(row) for row in rows]
