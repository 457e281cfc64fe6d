"""Reconciliation: settle STK prompts whose callback never came, by asking Daraja.

A callback may never come, come twice or come late (DARAJA.md, Security and
delivery). Each pass of :meth:`Reconciler.run_once`:

1. claims due PENDING requests — older than ``reconcile_first_delay``, or whose
   ``next_reconcile_at`` has come — so no two workers query one request at
   once: ``FOR UPDATE SKIP LOCKED`` plus a lease written to
   ``next_reconcile_at`` on PostgreSQL/MariaDB, the same lease taken by a
   conditional update on SQLite;
2. asks STK Push Query for each. A final answer is applied with the callback's
   own rules (``StkService.settle``: a later real callback changes nothing; a
   late success still beats EXPIRED). "The transaction is being processed"
   keeps the request PENDING and schedules the next query, doubling the wait
   each time (40 s, 80 s, 160 s … by default) up to ``reconcile_max_attempts``;
3. expires what is still PENDING ``stk_expiry`` seconds after initiation
   (prompts die on the phone within about two minutes). A request whose
   outcome was unknown at initiation has no CheckoutRequestID: it cannot be
   queried and simply expires;
4. with ``c2b_urls_registered``, fires ``mpesa_stk_push_missing_ipn`` once for
   each COMPLETED request that got no C2B confirmation within
   ``missing_ipn_after`` seconds.

Spike arrest (``500.003.02``) ends the pass early and makes the background loop
wait longer before the next one. See ``docs/reconciliation.md``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.client import AsyncDarajaClient
from mpesa_daraja_kit.client.errors import DarajaAPIError, DarajaErrorKind
from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.db.queries import supports_skip_locked
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.errors import DarajaError, PayloadError
from mpesa_daraja_kit.services.background import BackgroundLoop
from mpesa_daraja_kit.services.callbacks import CallbackLogService
from mpesa_daraja_kit.services.missing_ipn import notify_missing_ipn
from mpesa_daraja_kit.services.outbox import EventOutbox
from mpesa_daraja_kit.services.stk import UNVERIFIED, Settlement, StkService
from mpesa_daraja_kit.wire import parse_stk_callback

__all__ = ["EXPIRED_BY_KIT", "ReconcileReport", "Reconciler"]

log = logging.getLogger("mpesa_daraja_kit.reconcile")
REQUESTS = stk_requests
ITEMS = payment_items

EXPIRED_BY_KIT = "kit_expired"
"""``result_code`` of a request the reconciler expired (not a Daraja code)."""

_BATCH = 50
_MAX_LOOP_WAIT = 600.0


@attrs.define
class ReconcileReport:
    """What one pass did."""

    claimed: int = 0
    queried: int = 0
    settled: int = 0
    still_pending: int = 0
    expired: int = 0
    errors: int = 0
    rate_limited: bool = False
    missing_ipn: int = 0


class Reconciler:
    """Query silent STK prompts, expire dead ones and watch for missing C2B confirmations."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        client: AsyncDarajaClient,
        stk: StkService,
        callbacks: CallbackLogService,
        outbox: EventOutbox,
        clock: Clock = utc_now,
        sleep: Any = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._client = client
        self._stk = stk
        self._callbacks = callbacks
        self._outbox = outbox
        self._clock = clock
        self._sleep = sleep
        self._loop = BackgroundLoop("mpesa-kit-reconcile", self._run)
        self.last_run_at: datetime | None = None
        """When the last pass ended (by the kit's clock); None before the first."""
        self.started_at: datetime | None = None
        """When the background loop was last started (by the kit's clock)."""

    @property
    def lease(self) -> timedelta:
        """Return how long a claim lasts: longer than one query with all its retries."""
        s = self._settings
        per_try = s.connect_timeout + s.read_timeout
        return timedelta(seconds=max(60.0, self._client.retry.attempts * per_try + 30.0))

    # -- one pass ---------------------------------------------------------------------

    async def run_once(self, *, limit: int = 500) -> ReconcileReport:
        """Reconcile due requests (at most ``limit``) and check for missing confirmations."""
        report = ReconcileReport()
        while report.claimed < limit and not report.rate_limited:
            rows = await self._claim(min(_BATCH, limit - report.claimed))
            if not rows:
                break
            report.claimed += len(rows)
            for index, row in enumerate(rows):
                if report.rate_limited:
                    # Spike arrest: hand the rest back untouched, to be claimed later.
                    await self._release(rows[index:])
                    break
                await self._reconcile(row, report)
        if self._settings.c2b_urls_registered:
            report.missing_ipn = await notify_missing_ipn(
                self._engine,
                self._outbox,
                after=timedelta(seconds=self._settings.missing_ipn_after),
                clock=self._clock,
            )
        await self._outbox.after_commit()
        self.last_run_at = self._clock()
        if report.claimed or report.missing_ipn:
            log.info("reconciliation pass", extra={"report": attrs.asdict(report)})
        return report

    def _due(self, now: datetime) -> Any:
        first = now - timedelta(seconds=self._settings.reconcile_first_delay)
        return sa.and_(
            REQUESTS.c.status == StkPushStatus.PENDING,
            sa.or_(
                sa.and_(REQUESTS.c.next_reconcile_at.is_(None), REQUESTS.c.created_at <= first),
                REQUESTS.c.next_reconcile_at <= now,
            ),
        )

    async def _claim(self, batch: int) -> list[Any]:
        """Take a lease on up to ``batch`` due requests; other workers skip them."""
        now = self._clock()
        due = self._due(now)
        leased_until = now + self.lease
        async with self._engine.begin() as conn:
            stmt = sa.select(REQUESTS).where(due).order_by(REQUESTS.c.created_at).limit(batch)
            if supports_skip_locked(conn):
                rows = (await conn.execute(stmt.with_for_update(skip_locked=True))).all()
                if rows:
                    await conn.execute(
                        sa.update(REQUESTS)
                        .where(REQUESTS.c.id.in_([r.id for r in rows]))
                        .values(next_reconcile_at=leased_until, updated_at=now)
                    )
                return list(rows)
            claimed = []
            for row in (await conn.execute(stmt)).all():
                # The conditional update is the claim: a lease taken meanwhile makes it miss.
                result = await conn.execute(
                    sa.update(REQUESTS)
                    .where(REQUESTS.c.id == row.id, due)
                    .values(next_reconcile_at=leased_until, updated_at=now)
                )
                if result.rowcount == 1:
                    claimed.append(row)
            return claimed

    async def _release(self, rows: list[Any]) -> None:
        wait = self._settings.reconcile_first_delay
        await self._schedule(rows, self._clock() + timedelta(seconds=wait), attempted=False)

    async def _schedule(self, rows: list[Any], when: datetime, *, attempted: bool) -> None:
        now = self._clock()
        values: dict[str, Any] = {"next_reconcile_at": when, "updated_at": now}
        if attempted:
            values["reconcile_attempts"] = REQUESTS.c.reconcile_attempts + 1
            values["last_reconciled_at"] = now
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(REQUESTS)
                .where(
                    REQUESTS.c.id.in_([r.id for r in rows]),
                    REQUESTS.c.status == StkPushStatus.PENDING,
                )
                .values(**values)
            )

    async def _reconcile(self, row: Any, report: ReconcileReport) -> None:
        s = self._settings
        now = self._clock()
        deadline = row.created_at + timedelta(seconds=s.stk_expiry)
        if not row.checkout_request_id or row.reconcile_attempts >= s.reconcile_max_attempts:
            # Nothing to ask Daraja (no CheckoutRequestID, or asked enough): wait to expire.
            if now >= deadline:
                await self._expire(row, report)
            else:
                await self._schedule([row], deadline, attempted=False)
            return
        report.queried += 1
        try:
            answer = await self._client.stk_query(row.checkout_request_id)
        except DarajaAPIError as exc:
            if exc.classification is DarajaErrorKind.RATE_LIMITED:
                report.rate_limited = True
                log.warning("STK Push Query hit Daraja's spike arrest; slowing down")
                await self._schedule(
                    [row], now + timedelta(seconds=s.reconcile_first_delay), attempted=False
                )
                return
            if exc.classification is not DarajaErrorKind.STILL_PROCESSING:
                report.errors += 1
                log.warning(
                    "STK Push Query failed; will try again",
                    extra={"stk_push_request_id": str(row.id), "error_code": exc.error_code},
                )
            await self._not_final(row, report, now, deadline)
            return
        except DarajaError as exc:
            report.errors += 1
            log.warning(
                "STK Push Query failed; will try again",
                extra={"stk_push_request_id": str(row.id), "error_code": str(exc.code)},
            )
            await self._not_final(row, report, now, deadline)
            return
        status = answer.status
        if status is None:
            await self._not_final(row, report, now, deadline)
            return
        settlement = Settlement(
            status=status,
            result_code=str(answer.result_code),
            result_desc=answer.result_desc or answer.response_description,
            verified=True,
        )
        if status is StkPushStatus.COMPLETED:
            settlement = await self._with_held_callback(row, settlement)
        await self._schedule([row], now, attempted=True)
        if await self._stk.settle(row.id, settlement):
            report.settled += 1
        await self._mark_held_callbacks(row, status)

    async def _not_final(
        self, row: Any, report: ReconcileReport, now: datetime, deadline: datetime
    ) -> None:
        attempts = row.reconcile_attempts + 1
        if now >= deadline:
            await self._schedule([row], now, attempted=True)
            await self._expire(row, report)
            return
        report.still_pending += 1
        wait = self._settings.reconcile_first_delay * 2 ** (attempts - 1)
        # The last query is made at the deadline itself, right before expiring.
        when = min(now + timedelta(seconds=wait), deadline)
        await self._schedule([row], when, attempted=True)

    async def _expire(self, row: Any, report: ReconcileReport) -> None:
        seconds = int(self._settings.stk_expiry)
        why = (
            "outcome unknown at initiation; no callback"
            if not row.checkout_request_id
            else "no final result from Daraja"
        )
        applied = await self._stk.settle(
            row.id,
            Settlement(
                status=StkPushStatus.EXPIRED,
                result_code=EXPIRED_BY_KIT,
                result_desc=f"{why} within {seconds} s; expired by reconciliation",
            ),
        )
        if applied:
            report.expired += 1

    # -- callbacks held back by verification -------------------------------------------

    async def _held_callbacks(self, row: Any) -> list[Any]:
        records = await self._callbacks.list(
            outcomes=[CallbackOutcome.FAILED],
            kind=CallbackKind.STK_CALLBACK,
            reference=row.checkout_request_id,
        )
        return [r for r in records if r.error_code == UNVERIFIED]

    async def _with_held_callback(self, row: Any, settlement: Settlement) -> Settlement:
        """Take the receipt from a success callback held back by verification, if unambiguous.

        STK Push Query confirms the outcome but carries no receipt number; a
        success callback that arrived while the query still said "processing"
        was kept (not applied). Its receipt is used only when every such
        callback names the same receipt and the request's own amount.
        """
        candidates: dict[str, Settlement] = {}
        for record in await self._held_callbacks(row):
            try:
                callback = parse_stk_callback(record.raw_body)
            except PayloadError:
                continue
            if not callback.succeeded or not callback.receipt_number:
                continue
            if callback.amount is not None and Decimal(callback.amount) != row.amount:
                continue
            if row.merchant_request_id and callback.merchant_request_id != row.merchant_request_id:
                continue
            candidates[callback.receipt_number] = attrs.evolve(
                Settlement.from_callback(callback), verified=True
            )
        if len(candidates) == 1:
            return next(iter(candidates.values()))
        return settlement

    async def _mark_held_callbacks(self, row: Any, status: StkPushStatus) -> None:
        for record in await self._held_callbacks(row):
            await self._callbacks.mark(
                record.id,
                CallbackOutcome.APPLIED
                if status is StkPushStatus.COMPLETED
                else CallbackOutcome.DUPLICATE,
                reference=row.checkout_request_id,
                error_code=UNVERIFIED,
                error_message=f"settled by STK Push Query as {status.value}",
            )

    # -- the background loop --------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Tell whether the background loop runs in this process."""
        return self._loop.running

    def start(self) -> None:
        """Start the background loop (``MpesaKit.lifespan`` does when reconciliation is on)."""
        if not self._loop.running:
            self.started_at = self._clock()
        self._loop.start()

    async def stop(self) -> None:
        """Stop the background loop; claimed requests are picked up again after their lease."""
        await self._loop.stop()

    async def _run(self) -> None:
        interval = self._settings.reconcile_interval
        wait = interval
        while True:
            try:
                report = await self.run_once()
            except Exception:
                log.exception("reconciliation pass failed; trying again later")
                wait = min(_MAX_LOOP_WAIT, wait * 2)
            else:
                # Spike arrest: double the pause until a pass gets answers again.
                if report.rate_limited:
                    wait = min(_MAX_LOOP_WAIT, wait * 2)
                elif report.queried:
                    wait = interval
            await self._sleep(wait)
