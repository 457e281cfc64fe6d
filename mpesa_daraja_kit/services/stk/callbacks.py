"""STK callbacks: kept raw first, verified when configured, applied under the settling rules."""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from mpesa_daraja_kit.client.errors import DarajaAPIError, DarajaErrorKind
from mpesa_daraja_kit.db.queries import TRANSIENT_RETRIES, is_transient_conflict, transient_pause
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.errors import DarajaError, ErrorCode, PayloadError
from mpesa_daraja_kit.log import bind_correlation_id
from mpesa_daraja_kit.services.callbacks import (
    CallbackSpooled,
    IncomingCallback,
    is_database_unavailable,
)
from mpesa_daraja_kit.services.stk.base import REQUESTS, UNVERIFIED, Settlement, log
from mpesa_daraja_kit.services.stk.settle import StkSettling
from mpesa_daraja_kit.wire import StkCallback, parse_stk_callback


class StkCallbacks(StkSettling):
    """Keep, verify and apply STK callbacks (also replayed ones)."""

    # -- settling -----------------------------------------------------------------------

    async def handle_callback(self, incoming: IncomingCallback) -> CallbackOutcome:
        """Keep the raw callback body, then parse and apply it. Never raises for bad bodies.

        While the database is unavailable the body goes to the spool and the answer
        is RECEIVED: it is applied when the spool is replayed.
        """
        with bind_correlation_id(incoming.correlation_id):
            try:
                log_id = await self._callbacks.store(incoming)
            except CallbackSpooled:
                return CallbackOutcome.RECEIVED
            try:
                return await self.apply_callback(log_id, incoming.body)
            except Exception:
                # The body is safe: Safaricom is told Accepted, the sweep applies it.
                log.exception(
                    "STK callback kept but not applied; the sweep applies it",
                    extra={"callback_log_id": log_id},
                )
                return CallbackOutcome.RECEIVED

    async def apply_callback(self, log_id: int, body: bytes) -> CallbackOutcome:
        """Parse and apply a stored callback (also used to replay one)."""
        try:
            callback = parse_stk_callback(body)
        except PayloadError as exc:
            log.warning(
                "STK callback could not be parsed; kept for replay",
                extra={"callback_log_id": log_id, "error_code": str(exc.code), "field": exc.field},
            )
            await self._callbacks.mark(
                log_id, CallbackOutcome.FAILED, error_code=str(exc.code), error_message=exc.message
            )
            return CallbackOutcome.FAILED
        try:
            outcome = await self._verified_apply(log_id, callback)
            if outcome is CallbackOutcome.WAITING and await self._exists(
                callback.checkout_request_id
            ):
                # The request was stored between our look-up and our mark: apply it now.
                outcome = await self._verified_apply(log_id, callback)
        except Exception as exc:  # verification or a lost connection: keep it for a replay
            if is_database_unavailable(exc):
                raise  # not the body's fault: it stays RECEIVED and the sweep retries it
            log.exception(
                "STK callback could not be applied; kept for replay",
                extra={"callback_log_id": log_id},
            )
            with contextlib.suppress(Exception):
                await self._callbacks.mark(
                    log_id,
                    CallbackOutcome.FAILED,
                    reference=callback.checkout_request_id,
                    error_code=str(ErrorCode.CALLBACK_FAILED),
                    error_message=f"could not be applied: {type(exc).__name__}",
                )
            return CallbackOutcome.FAILED
        return outcome

    async def _exists(self, checkout_request_id: str) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                sa.select(REQUESTS.c.id).where(
                    REQUESTS.c.checkout_request_id == checkout_request_id
                )
            )
        return found is not None

    def _needs_verification(self, callback: StkCallback) -> bool:
        return callback.succeeded and self._settings.verify_stk_success

    async def _verified_apply(self, log_id: int, callback: StkCallback) -> CallbackOutcome:
        """Apply a callback; with ``verify_stk_success``, only a success Daraja confirms."""
        if not self._needs_verification(callback):
            return await self._apply(log_id, callback)
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(REQUESTS).where(
                        REQUESTS.c.checkout_request_id == callback.checkout_request_id
                    )
                )
            ).first()
        if row is None or row.status not in (StkPushStatus.PENDING, StkPushStatus.EXPIRED):
            # Nothing to verify: WAITING until the request is stored, or a final status
            # that a success can no longer change (DUPLICATE).
            return await self._apply(log_id, callback)
        refusal = await self._verify(row, callback)
        if refusal is None:
            return await self._apply(log_id, callback, verified=True)
        log.warning(
            "STK success callback not confirmed by STK Push Query; kept, not applied",
            extra={
                "callback_log_id": log_id,
                "stk_push_request_id": str(row.id),
                "reason": refusal,
            },
        )
        await self._callbacks.mark(
            log_id,
            CallbackOutcome.FAILED,
            reference=callback.checkout_request_id,
            error_code=UNVERIFIED,
            error_message=f"not applied: {refusal}; reconciliation will settle the request",
        )
        return CallbackOutcome.FAILED

    async def _verify(self, row: Any, callback: StkCallback) -> str | None:
        """Return why a success callback cannot be trusted, or None when Daraja confirms it."""
        if row.merchant_request_id and callback.merchant_request_id != row.merchant_request_id:
            return "its MerchantRequestID is not the one Daraja gave this request"
        if callback.amount is not None and callback.amount != row.amount:
            return f"its amount {callback.amount} is not the requested {row.amount}"
        try:
            answer = await self._client.stk_query(callback.checkout_request_id)
        except DarajaAPIError as exc:
            if exc.classification is DarajaErrorKind.STILL_PROCESSING:
                return "STK Push Query says the transaction is still being processed"
            return f"STK Push Query failed ({exc.error_code or exc.code})"
        except DarajaError as exc:
            return f"STK Push Query failed ({exc.code})"
        if answer.status is not StkPushStatus.COMPLETED:
            return f"STK Push Query says ResultCode {answer.result_code} ({answer.result_desc})"
        return None

    async def _apply(
        self, log_id: int, callback: StkCallback, *, verified: bool = False
    ) -> CallbackOutcome:
        """Apply in one transaction, retried on a deadlock; never raises (the body is kept)."""
        reference = callback.checkout_request_id
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                return await self._apply_once(log_id, callback, verified=verified)
            except DBAPIError as exc:
                if is_transient_conflict(exc) and attempt < TRANSIENT_RETRIES:
                    await transient_pause(attempt)
                    continue
                error: Exception = exc
                break
            except Exception as exc:  # a bug must not turn into a 500 for Safaricom
                error = exc
                break
        if is_database_unavailable(error) or is_transient_conflict(error):
            # Not the body's fault: it stays RECEIVED and the sweep applies it later.
            raise error
        log.exception(
            "STK callback could not be applied; kept for replay",
            extra={"callback_log_id": log_id, "checkout_request_id": reference},
        )
        code = "conflict" if isinstance(error, IntegrityError) else str(ErrorCode.CALLBACK_FAILED)
        await self._callbacks.mark(
            log_id,
            CallbackOutcome.FAILED,
            reference=reference,
            error_code=code,
            error_message=f"could not be applied: {type(error).__name__}",
        )
        return CallbackOutcome.FAILED

    async def _apply_once(
        self, log_id: int, callback: StkCallback, *, verified: bool
    ) -> CallbackOutcome:
        reference = callback.checkout_request_id
        async with self._outbox.transaction() as conn:
            row = (
                await conn.execute(
                    sa.select(REQUESTS).where(REQUESTS.c.checkout_request_id == reference)
                )
            ).first()
            held = (
                row is not None
                and not verified
                and self._needs_verification(callback)
                and row.status in (StkPushStatus.PENDING, StkPushStatus.EXPIRED)
            )
            if row is None or held:
                # Stored meanwhile but not verified yet: the caller checks again.
                outcome = CallbackOutcome.WAITING
            else:
                settlement = attrs.evolve(Settlement.from_callback(callback), verified=verified)
                applied = await self._settle(conn, row, settlement)
                outcome = CallbackOutcome.APPLIED if applied else CallbackOutcome.DUPLICATE
            await self._callbacks.mark(log_id, outcome, conn=conn, reference=reference)
        return outcome

    async def _apply_waiting_callbacks(self, checkout_request_id: str) -> None:
        waiting = await self._callbacks.list(
            outcomes=[CallbackOutcome.WAITING],
            kind=CallbackKind.STK_CALLBACK,
            reference=checkout_request_id,
        )
        for record in reversed(waiting):
            await self.apply_callback(record.id, record.raw_body)
