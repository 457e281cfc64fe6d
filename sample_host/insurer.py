"""The insurer's back office: policies, the premiums they received, and the seed data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from sample_host.tables import customers, handled_events, metadata, policies, premiums

__all__ = ["SEED", "Insurer", "Policy", "Premium"]

log = logging.getLogger("sample_host.insurer")

# (customer, phone, policy number, product, premium, payment account number).
# POL0012345 and POL0099881 also appear in the org-portal statement fixture.
SEED: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("Amina Wanjiru", "254708374149", "MTR-24-0012", "Motor (private)", "1500.00", "POL0012345"),
    ("Peter Otieno", "254712345678", "HLT-24-0044", "Health (family)", "2300.00", "POL0099881"),
    ("Grace Muthoni", "254722000111", "LIF-24-0107", "Life (term)", "800.00", "POL0054321"),
    ("Brian Kiprop", "254733444555", "BDA-24-0003", "Boda boda cover", "350.00", "POL0077001"),
)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@attrs.frozen(kw_only=True)
class Policy:
    """A policy with its customer and what it has received."""

    id: int
    number: str
    product: str
    customer_name: str
    customer_phone: str
    premium: Decimal
    payment_account_number: str
    paid_at: datetime | None
    received: Decimal

    def to_json(self) -> dict[str, Any]:
        """Return the policy as the operator page reads it."""
        return {
            "id": self.id,
            "number": self.number,
            "product": self.product,
            "customer": self.customer_name,
            "phone": self.customer_phone,
            "premium": f"{self.premium:.2f}",
            "paymentAccountNumber": self.payment_account_number,
            "received": f"{self.received:.2f}",
            "paid": self.paid_at is not None,
            "paidAt": self.paid_at.isoformat() if self.paid_at else None,
        }


@attrs.frozen(kw_only=True)
class Premium:
    """One premium received for a policy (one M-Pesa receipt)."""

    policy_number: str
    receipt_number: str
    amount: Decimal
    source: str
    stk_push_request_id: str | None
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        """Return the premium as the operator page reads it."""
        return {
            "policyNumber": self.policy_number,
            "receiptNumber": self.receipt_number,
            "amount": f"{self.amount:.2f}",
            "source": self.source,
            "stkPushRequestId": self.stk_push_request_id,
            "receivedAt": self.received_at.isoformat(),
        }


class Insurer:
    """The host's own data access (its tables only; the kit's are the kit's)."""

    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    async def create_tables(self) -> None:
        """Create the insurer's tables that are missing."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def seed(self) -> int:
        """Add the demo customers and policies that are not there yet; return how many."""
        added = 0
        async with self.engine.begin() as conn:
            for name, phone, number, product, premium, account in SEED:
                exists = await conn.scalar(
                    sa.select(policies.c.id).where(policies.c.number == number)
                )
                if exists is not None:
                    continue
                inserted = await conn.execute(sa.insert(customers).values(name=name, phone=phone))
                assert inserted.inserted_primary_key is not None
                customer_id = inserted.inserted_primary_key[0]
                await conn.execute(
                    sa.insert(policies).values(
                        number=number,
                        product=product,
                        customer_id=customer_id,
                        premium=Decimal(premium),
                        payment_account_number=account,
                    )
                )
                added += 1
        return added

    # -- reading ----------------------------------------------------------------------

    def _policy_query(self) -> sa.Select[Any]:
        received = (
            sa.select(sa.func.coalesce(sa.func.sum(premiums.c.amount), 0))
            .where(premiums.c.policy_id == policies.c.id)
            .scalar_subquery()
        )
        return (
            sa.select(
                policies,
                customers.c.name.label("customer_name"),
                customers.c.phone.label("customer_phone"),
                received.label("received"),
            )
            .join(customers, customers.c.id == policies.c.customer_id)
            .order_by(policies.c.id)
        )

    @staticmethod
    def _policy(row: Any) -> Policy:
        return Policy(
            id=row.id,
            number=row.number,
            product=row.product,
            customer_name=row.customer_name,
            customer_phone=row.customer_phone,
            premium=Decimal(row.premium),
            payment_account_number=row.payment_account_number,
            paid_at=_aware(row.paid_at),
            received=Decimal(row.received or 0).quantize(Decimal("0.01")),
        )

    async def policies(self) -> list[Policy]:
        """Return every policy, oldest first."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(self._policy_query())).all()
        return [self._policy(row) for row in rows]

    async def policy_by_account(self, account_reference: str) -> Policy | None:
        """Return the policy whose payment account number is ``account_reference`` (any case)."""
        key = account_reference.strip().upper()
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    self._policy_query().where(policies.c.payment_account_number == key)
                )
            ).first()
        return self._policy(row) if row is not None else None

    async def premiums(self, limit: int = 20) -> list[Premium]:
        """Return the latest premiums received."""
        query = (
            sa.select(premiums, policies.c.number.label("policy_number"))
            .join(policies, policies.c.id == premiums.c.policy_id)
            .order_by(premiums.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Premium(
                policy_number=row.policy_number,
                receipt_number=row.receipt_number,
                amount=Decimal(row.amount),
                source=row.source,
                stk_push_request_id=row.stk_push_request_id,
                received_at=_aware(row.received_at) or self.clock(),
            )
            for row in rows
        ]

    # -- reacting to the kit's events ---------------------------------------------------

    async def record_premium(
        self,
        *,
        event_id: str,
        hook: str,
        receipt_number: str,
        amount: Decimal,
        source: str,
        account_reference: str | None,
        policy_number: str | None,
        stk_push_request_id: str | None,
        received_at: datetime,
    ) -> bool:
        """Record a premium for a receipt once, mark its policy paid when covered.

        Idempotent by ``event_id`` (the kit delivers at least once) and by receipt
        (a linked event for a receipt already recorded only adds the STK link).
        Returns whether anything changed.
        """
        try:
            async with self.engine.begin() as conn:
                seen = await conn.scalar(
                    sa.select(handled_events.c.event_id).where(
                        handled_events.c.event_id == event_id
                    )
                )
                if seen is not None:
                    return False
                now = self.clock()
                await conn.execute(
                    sa.insert(handled_events).values(event_id=event_id, hook=hook, handled_at=now)
                )
                return await self._apply(
                    conn,
                    receipt_number=receipt_number,
                    amount=amount,
                    source=source,
                    account_reference=account_reference,
                    policy_number=policy_number,
                    stk_push_request_id=stk_push_request_id,
                    received_at=received_at,
                    now=now,
                )
        except IntegrityError:
            # Another delivery of this event, or of this receipt, won the race. If it was
            # this event, it is done; otherwise raise so that the kit delivers it again.
            async with self.engine.connect() as conn:
                seen = await conn.scalar(
                    sa.select(handled_events.c.event_id).where(
                        handled_events.c.event_id == event_id
                    )
                )
            if seen is not None:
                return False
            raise

    async def _apply(
        self,
        conn: AsyncConnection,
        *,
        receipt_number: str,
        amount: Decimal,
        source: str,
        account_reference: str | None,
        policy_number: str | None,
        stk_push_request_id: str | None,
        received_at: datetime,
        now: datetime,
    ) -> bool:
        existing = (
            await conn.execute(
                sa.select(premiums).where(premiums.c.receipt_number == receipt_number)
            )
        ).first()
        if existing is not None:
            if stk_push_request_id and existing.stk_push_request_id != stk_push_request_id:
                await conn.execute(
                    sa.update(premiums)
                    .where(premiums.c.id == existing.id)
                    .values(stk_push_request_id=stk_push_request_id)
                )
                return True
            return False
        condition = (
            policies.c.number == policy_number
            if policy_number
            else policies.c.payment_account_number == (account_reference or "").strip().upper()
        )
        policy = (await conn.execute(sa.select(policies).where(condition))).first()
        if policy is None:
            log.info("payment %s matches no policy; nothing recorded", receipt_number)
            return False
        await conn.execute(
            sa.insert(premiums).values(
                policy_id=policy.id,
                receipt_number=receipt_number,
                amount=amount,
                source=source,
                stk_push_request_id=stk_push_request_id,
                received_at=received_at,
                recorded_at=now,
            )
        )
        total = await conn.scalar(
            sa.select(sa.func.sum(premiums.c.amount)).where(premiums.c.policy_id == policy.id)
        )
        if policy.paid_at is None and Decimal(total or 0) >= Decimal(policy.premium):
            await conn.execute(
                sa.update(policies).where(policies.c.id == policy.id).values(paid_at=now)
            )
        log.info("premium %s recorded for policy %s", receipt_number, policy.number)
        return True
