"""Initiating an STK push: stored PENDING first, sent once, never re-sent if it may have left."""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from mpesa_daraja_kit.client.errors import (
    DarajaAPIError,
    DarajaOperation,
    DarajaOutcomeUnknown,
    DarajaTransportError,
)
from mpesa_daraja_kit.db.queries import TRANSIENT_RETRIES, is_transient_conflict, transient_pause
from mpesa_daraja_kit.enums import StkPushStatus
from mpesa_daraja_kit.errors import (
    DarajaError,
    ErrorCode,
    IdempotencyConflict,
    InvalidAmount,
    MpesaKitError,
    Overloaded,
    StkDisabled,
    StkPushInProgress,
    StkPushRejected,
    UnknownAccount,
    ValidationError,
)
from mpesa_daraja_kit.log import describe_error
from mpesa_daraja_kit.money import parse_amount, whole_shillings
from mpesa_daraja_kit.phone import hash_msisdn, mask_msisdn, normalize_msisdn
from mpesa_daraja_kit.reference import account_key, validate_stk_account_reference
from mpesa_daraja_kit.services.accounts import lookup_account
from mpesa_daraja_kit.services.stk.base import (
    DEFAULT_DESCRIPTION,
    REQUESTS,
    InitiateResult,
    Settlement,
    log,
)
from mpesa_daraja_kit.services.stk.callbacks import StkCallbacks
from mpesa_daraja_kit.services.views import StkPushView

_STORE_ATTEMPTS = 4


class StkService(StkCallbacks):
    """Initiate, settle and read STK Push requests."""

    # -- initiating -----------------------------------------------------------------

    def _validate(
        self, phone_number: str | int, amount: object, account_reference: str, desc: str | None
    ) -> tuple[str, int, str, str]:
        s = self._settings
        phone = normalize_msisdn(phone_number)
        parsed = parse_amount(amount, field="amount")
        assert parsed is not None
        whole = whole_shillings(parsed)
        if not s.amount_min <= whole <= s.amount_max:
            raise InvalidAmount(
                f"amount {whole} is outside the allowed range {s.amount_min}–{s.amount_max} KES"
            )
        reference = validate_stk_account_reference(
            account_reference, max_length=s.account_reference_max_length
        )
        description = (desc or DEFAULT_DESCRIPTION).strip() or DEFAULT_DESCRIPTION
        if len(description) > s.transaction_desc_max_length:
            raise ValidationError(
                f"transaction description {description!r} has {len(description)} characters; "
                f"M-Pesa Express accepts at most {s.transaction_desc_max_length}",
                code=ErrorCode.INVALID_TRANSACTION_DESC,
            )
        return phone, whole, reference, description

    async def initiate(
        self,
        phone_number: str | int,
        amount: int | str | Decimal,
        account_reference: str,
        transaction_desc: str | None = None,
        *,
        initiated_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> InitiateResult:
        """Start a payment prompt on ``phone_number`` for ``account_reference``.

        Raises:
            StkDisabled: STK initiation is switched off.
            InvalidPhoneNumber, InvalidAmount, InvalidAccountReference, ValidationError:
                the input would not be accepted by Daraja.
            UnknownAccount: ``mpesa_lookup_account`` does not know the reference.
            StkPushInProgress: the phone already has an open prompt.
            Overloaded: this worker runs ``stk_max_concurrent_initiations`` already and
                none finished within ``stk_initiation_wait`` (nothing was sent; 503).
            IdempotencyConflict: the key was used before with other parameters.
            StkPushRejected: Daraja refused the push (stored FAILED).
            DarajaError: Daraja could not be reached (stored FAILED; nothing was sent).
        """
        if not self._settings.stk_enabled:
            raise StkDisabled("STK Push initiation is switched off (MPESA_STK_ENABLED=false)")
        phone, whole, reference, description = self._validate(
            phone_number, amount, account_reference, transaction_desc
        )
        async with self._slot():
            return await self._initiate(
                phone, whole, reference, description, initiated_by, idempotency_key
            )

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold one of this worker's initiation slots, or refuse before anything is done.

        Raises:
            Overloaded: no slot came free within ``stk_initiation_wait``.
        """
        slots = self._slots.get()
        wait = self._settings.stk_initiation_wait
        try:
            if wait <= 0 and slots.locked():
                raise TimeoutError
            async with asyncio.timeout(wait if wait > 0 else None):
                await slots.acquire()
        except TimeoutError:
            raise Overloaded(
                f"this worker is running {self._settings.stk_max_concurrent_initiations} "
                "initiations already; nothing was sent, try again shortly",
                retry_after=max(1, math.ceil(wait)),
            ) from None
        try:
            yield
        finally:
            slots.release()

    async def _initiate(
        self,
        phone: str,
        whole: int,
        reference: str,
        description: str,
        initiated_by: str | None,
        idempotency_key: str | None,
    ) -> InitiateResult:
        key = (idempotency_key or "").strip()[:255] or None
        if key is not None:
            existing = await self._by_idempotency_key(key)
            if existing is not None:
                return self._idempotent(existing, phone, whole, reference)
        await self._limits.check(phone, initiated_by)
        account = await lookup_account(self._pm, reference)
        if account is None:
            raise UnknownAccount(
                f"no account with reference {reference!r}; check the policy's payment "
                "account number",
                account_reference=reference,
            )
        request_id = uuid.uuid4()
        now = self._clock()
        window = timedelta(seconds=self._settings.stk_duplicate_window)
        values = {
            "id": request_id,
            "phone_number": phone,
            "phone_hash": hash_msisdn(phone),
            "amount": Decimal(whole),
            "account_reference": reference,
            "account_key": account_key(reference),
            "transaction_desc": description,
            "status": StkPushStatus.PENDING,
            "initiated_by": initiated_by,
            "idempotency_key": key,
            "host_account_id": account.account_id,
            "active_phone": phone if window else None,
            # Until Daraja's answer is stored, a push may have left: were that answer
            # lost, the reconciler settles the request as outcome-unknown.
            "outcome_unknown": True,
            "reconcile_attempts": 0,
            "initiated_at": now,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._insert_request(values, phone, now, window)
        except IntegrityError:
            if key is not None:
                existing = await self._by_idempotency_key(key)
                if existing is not None:
                    return self._idempotent(existing, phone, whole, reference)
            raise StkPushInProgress(
                "this phone already has an M-Pesa prompt open; wait for it to finish "
                f"(up to {int(window.total_seconds())} s) before sending another",
                phone=mask_msisdn(phone),
            ) from None
        return InitiateResult(
            await self._send(request_id, phone, whole, reference, description), True
        )

    async def _insert_request(
        self, values: dict[str, Any], phone: str, now: datetime, window: timedelta
    ) -> None:
        """Insert the request row (freeing the phone's long-dead prompt first); retry deadlocks.

        Concurrent initiations lock neighbouring index ranges (MariaDB's gap locks):
        the database breaks such a deadlock by rolling one back, and it is run again.
        """
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                async with self._engine.begin() as conn:
                    if window:
                        # An older open prompt has long timed out on the phone: free the slot.
                        await conn.execute(
                            sa.update(REQUESTS)
                            .where(
                                REQUESTS.c.active_phone == phone,
                                REQUESTS.c.created_at < now - window,
                            )
                            .values(active_phone=None, updated_at=now)
                        )
                    await conn.execute(sa.insert(REQUESTS).values(**values))
                return
            except DBAPIError as exc:
                if isinstance(exc, IntegrityError) or not (
                    is_transient_conflict(exc) and attempt < TRANSIENT_RETRIES
                ):
                    raise
                await transient_pause(attempt)

    async def _by_idempotency_key(self, key: str) -> Any:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(sa.select(REQUESTS).where(REQUESTS.c.idempotency_key == key))
            ).first()

    def _idempotent(self, row: Any, phone: str, whole: int, reference: str) -> InitiateResult:
        if (row.phone_number, row.amount, row.account_key) != (
            phone,
            Decimal(whole),
            account_key(reference),
        ):
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different payment request; "
                "use a new key for a new request",
                stk_push_request_id=str(row.id),
            )
        return InitiateResult(StkPushView.from_row(row), False)

    async def _send(
        self, request_id: uuid.UUID, phone: str, whole: int, reference: str, description: str
    ) -> StkPushView:
        try:
            result = await self._client.stk_push(
                phone, whole, reference, description, callback_url=self._settings.stk_callback_url
            )
        except DarajaAPIError as exc:
            await self._fail(request_id, exc.error_code or "daraja_error", exc.error_message)
            raise StkPushRejected(
                f"Daraja refused the STK push: {exc.error_message}",
                daraja_error_code=exc.error_code,
                classification=str(exc.classification),
                stk_push_request_id=str(request_id),
            ) from exc
        except DarajaOutcomeUnknown as exc:
            return await self._outcome_unknown(request_id, exc)
        except DarajaError as exc:
            never_sent = getattr(exc, "operation", None) == DarajaOperation.TOKEN or (
                isinstance(exc, DarajaTransportError) and not exc.request_sent
            )
            if never_sent:
                # The token call failed, or the push could not connect: nothing reached
                # Daraja, so the request is FAILED and the caller may simply try again.
                await self._fail(request_id, str(exc.code), exc.message)
                raise
            return await self._outcome_unknown(request_id, exc)
        except Exception as exc:
            await self._fail(request_id, "kit_error", describe_error(exc))
            raise
        response = result.response
        if not response.accepted:
            await self._fail(request_id, response.response_code, response.response_description)
            raise StkPushRejected(
                f"Daraja did not accept the STK push: {response.response_description}",
                daraja_error_code=response.response_code,
                stk_push_request_id=str(request_id),
            )
        await self._store_accepted(
            request_id, response.checkout_request_id, response.merchant_request_id
        )
        await self._apply_waiting_callbacks(response.checkout_request_id)
        return await self.get(request_id)

    async def _store_accepted(
        self, request_id: uuid.UUID, checkout_request_id: str, merchant_request_id: str
    ) -> None:
        """Store Daraja's acceptance; tried a few times, as the push has left.

        Should every attempt fail, the request keeps ``outcome_unknown`` (set at
        insert): the reconciler settles it, its callback waits in the log.
        """
        for attempt in range(1, _STORE_ATTEMPTS + 1):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        sa.update(REQUESTS)
                        .where(REQUESTS.c.id == request_id)
                        .values(
                            checkout_request_id=checkout_request_id,
                            merchant_request_id=merchant_request_id,
                            outcome_unknown=False,
                            updated_at=self._clock(),
                        )
                    )
                return
            except Exception as exc:
                if attempt == _STORE_ATTEMPTS:
                    log.exception(
                        "STK push accepted by Daraja but its answer could not be stored; "
                        "left outcome-unknown for reconciliation",
                        extra={"stk_push_request_id": str(request_id)},
                    )
                    # The prompt is on the phone: say so, and that it must not be sent again.
                    raise MpesaKitError(
                        "Daraja accepted the push but the kit could not record its answer; "
                        "do not send it again: the request is settled by reconciliation",
                        code=ErrorCode.DARAJA_OUTCOME_UNKNOWN,
                        stk_push_request_id=str(request_id),
                        checkout_request_id=checkout_request_id,
                    ) from exc
                await asyncio.sleep(0.2 * attempt)

    async def _fail(self, request_id: uuid.UUID, code: str, desc: str) -> None:
        async with self._outbox.transaction() as conn:
            await conn.execute(
                sa.update(REQUESTS)
                .where(REQUESTS.c.id == request_id)
                .values(outcome_unknown=False)  # nothing left, or Daraja refused it
            )
            row = (await conn.execute(sa.select(REQUESTS).where(REQUESTS.c.id == request_id))).one()
            await self._settle(
                conn,
                row,
                Settlement(
                    status=StkPushStatus.FAILED, result_code=code[:20], result_desc=desc[:500]
                ),
            )

    async def _outcome_unknown(self, request_id: uuid.UUID, exc: Exception) -> StkPushView:
        log.warning(
            "STK push outcome unknown; left PENDING for reconciliation (never re-sent)",
            extra={"stk_push_request_id": str(request_id), "error": type(exc).__name__},
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(REQUESTS)
                .where(REQUESTS.c.id == request_id)
                .values(
                    outcome_unknown=True,
                    result_desc=f"outcome unknown: {type(exc).__name__}"[:500],
                    updated_at=self._clock(),
                )
            )
        return await self.get(request_id)
