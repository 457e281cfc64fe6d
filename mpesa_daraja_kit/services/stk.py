"""STK Push (M-Pesa Express): initiate a prompt, settle it from its callback, read it.

Rules (docs/architecture.md#data-rules, DARAJA.md):

- The request is stored PENDING *before* Daraja is called, then Daraja's own
  ``MerchantRequestID`` and ``CheckoutRequestID`` are stored.
- A push that may have reached Daraja (timeout after sending, 5xx) is never
  sent again: the request stays PENDING, marked ``outcome_unknown``, for
  reconciliation.
- A final status is never overwritten by a later, weaker signal; a late
  success still wins over EXPIRED (money moved). The database decides with
  a conditional update, so twenty copies of one callback change one row once.
- A callback can beat the initiate response: it is kept WAITING and applied
  as soon as the request's CheckoutRequestID is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pluggy
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mpesa_daraja_kit.client import AsyncDarajaClient
from mpesa_daraja_kit.client.errors import (
    DarajaAPIError,
    DarajaErrorKind,
    DarajaOperation,
    DarajaOutcomeUnknown,
    DarajaTransportError,
)
from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.models import payment_items, stk_requests
from mpesa_daraja_kit.db.queries import (
    TRANSIENT_RETRIES,
    is_transient_conflict,
    transient_pause,
)
from mpesa_daraja_kit.enums import (
    CallbackKind,
    CallbackOutcome,
    PaymentSource,
    StatementReasonType,
    StkPushStatus,
)
from mpesa_daraja_kit.errors import (
    DarajaError,
    ErrorCode,
    IdempotencyConflict,
    InvalidAmount,
    NotFound,
    Overloaded,
    PayloadError,
    StkDisabled,
    StkPushInProgress,
    StkPushRejected,
    UnknownAccount,
    ValidationError,
)
from mpesa_daraja_kit.events import StkPushUpdated
from mpesa_daraja_kit.log import bind_correlation_id, describe_error, get_logger
from mpesa_daraja_kit.money import parse_amount, whole_shillings
from mpesa_daraja_kit.phone import hash_msisdn, mask_msisdn, normalize_msisdn
from mpesa_daraja_kit.reference import account_key, validate_stk_account_reference
from mpesa_daraja_kit.services.accounts import lookup_account
from mpesa_daraja_kit.services.callbacks import (
    CallbackLogService,
    CallbackSpooled,
    IncomingCallback,
    is_database_unavailable,
)
from mpesa_daraja_kit.services.ledger import Ledger, MoneyReceived
from mpesa_daraja_kit.services.outbox import EventOutbox
from mpesa_daraja_kit.services.ratelimit import InitiationLimits
from mpesa_daraja_kit.services.views import StkPushView
from mpesa_daraja_kit.wire import StkCallback, parse_stk_callback

__all__ = ["UNVERIFIED", "InitiateResult", "Settlement", "StkService"]

_STORE_ATTEMPTS = 4


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


class StkService:
    """Initiate, settle and read STK Push requests."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        pm: pluggy.PluginManager,
        client: AsyncDarajaClient,
        outbox: EventOutbox,
        callbacks: CallbackLogService,
        ledger: Ledger,
        clock: Clock = utc_now,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._pm = pm
        self._client = client
        self._outbox = outbox
        self._callbacks = callbacks
        self._ledger = ledger
        self._clock = clock
        self._limits = InitiationLimits(engine, settings, clock=clock)
        self._slots = _LoopSemaphores(settings.stk_max_concurrent_initiations)

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
            except Exception:
                if attempt == _STORE_ATTEMPTS:
                    log.exception(
                        "STK push accepted by Daraja but its answer could not be stored; "
                        "left outcome-unknown for reconciliation",
                        extra={"stk_push_request_id": str(request_id)},
                    )
                    raise
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
            StkPushUpdated(
                occurred_at=self._clock(),
                stk_push_request_id=str(row.id),
                status=status.value,
                previous_status=row.status.value,
                checkout_request_id=row.checkout_request_id,
                account_reference=row.account_reference,
                host_account_id=row.host_account_id,
                amount=row.amount,
                result_code=settlement.result_code,
                result_desc=settlement.result_desc,
                receipt_number=settlement.receipt_number,
                phone_hash=row.phone_hash,
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
        now = self._clock()
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
        result = await conn.execute(
            sa.update(REQUESTS)
            .where(REQUESTS.c.id == row.id, REQUESTS.c.status == StkPushStatus.PENDING)
            .values(
                status=StkPushStatus.COMPLETED,
                result_code=settlement.result_code[:20],
                result_desc=desc[:500],
                completed_at=now,
                active_phone=None,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            return False
        await self._outbox.add(
            conn,
            StkPushUpdated(
                occurred_at=self._clock(),
                stk_push_request_id=str(row.id),
                status=StkPushStatus.COMPLETED.value,
                previous_status=StkPushStatus.PENDING.value,
                checkout_request_id=fresh.checkout_request_id,
                account_reference=fresh.account_reference,
                host_account_id=fresh.host_account_id,
                amount=fresh.amount,
                result_code=settlement.result_code,
                result_desc=desc,
                receipt_number=fresh.linked_transaction_id,
                phone_hash=fresh.phone_hash,
            ),
        )
        return True

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
