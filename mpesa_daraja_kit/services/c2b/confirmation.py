"""C2B confirmations: read, checked, and recorded once per receipt through the ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.db.queries import (
    TRANSIENT_RETRIES,
    is_transient_conflict,
    transaction,
    transient_pause,
)
from mpesa_daraja_kit.enums import CallbackOutcome, PaymentSource, reason_type_from_c2b
from mpesa_daraja_kit.errors import ErrorCode, PayloadError
from mpesa_daraja_kit.events import Account
from mpesa_daraja_kit.log import bind_correlation_id, describe_error, get_logger
from mpesa_daraja_kit.phone import MsisdnKind, classify_msisdn, matching_hash, normalize_msisdn
from mpesa_daraja_kit.reference import account_key, normalize_account_reference, receipt_problem
from mpesa_daraja_kit.services.accounts import lookup_account
from mpesa_daraja_kit.services.callbacks import (
    CallbackSpooled,
    IncomingCallback,
    is_database_unavailable,
)
from mpesa_daraja_kit.services.flow import Flow
from mpesa_daraja_kit.services.ledger import LedgerOutcome, MoneyReceived
from mpesa_daraja_kit.wire import C2BPayment, parse_c2b_payment

__all__ = ["C2BConfirmations", "Confirmation", "parse_body", "read_confirmation"]

log = get_logger("c2b")
ITEMS = payment_items

_REQUIRED = (
    ("trans_id", "TransID"),
    ("trans_time", "TransTime"),
    ("trans_amount", "TransAmount"),
    ("business_short_code", "BusinessShortCode"),
)


@attrs.frozen(kw_only=True)
class Confirmation:
    """A C2B confirmation read and checked: domain values, ready to store."""

    receipt_number: str
    transaction_time: datetime
    """``TransTime`` (Kenyan time) as aware UTC."""
    amount: Decimal
    balance: Decimal | None
    transaction_type: str | None
    account_number: str | None
    msisdn: str | None = attrs.field(repr=False)
    msisdn_hash: str | None
    first_name: str | None = attrs.field(repr=False)
    middle_name: str | None = attrs.field(repr=False)
    last_name: str | None = attrs.field(repr=False)
    business_short_code: str
    invoice_number: str | None
    third_party_trans_id: str | None

    @property
    def payer_name(self) -> str:
        """Return the payer's names joined (may be empty)."""
        parts = (self.first_name, self.middle_name, self.last_name)
        return " ".join(p for p in parts if p)


def _is_json_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return not media or media.endswith("/json") or media.endswith("+json")


def parse_body(body: bytes, content_type: str | None) -> C2BPayment:
    """Parse a validation or confirmation body, naming a wrong content type when it explains."""
    try:
        return parse_c2b_payment(body)
    except PayloadError as exc:
        if exc.code is ErrorCode.PAYLOAD_NOT_JSON and not _is_json_type(content_type):
            raise PayloadError(
                f"C2B body was sent as {content_type!r} and is not JSON; expected application/json",
                code=ErrorCode.PAYLOAD_WRONG_CONTENT_TYPE,
            ) from None
        raise


def _text(value: str, limit: int) -> str | None:
    text = value.strip()
    return text[:limit] or None


def read_confirmation(body: bytes, content_type: str | None = None) -> Confirmation:
    """Read a confirmation body into a :class:`Confirmation`.

    A JSON body is accepted whatever its declared content type (tolerant
    inbound); extra keys are ignored and numbers are taken where text is expected.

    Raises:
        PayloadError: not JSON, a required field (TransID, TransTime, TransAmount,
            BusinessShortCode) missing, or a time or amount that cannot be read.
    """
    payment = parse_body(body, content_type)
    missing = [wire for name, wire in _REQUIRED if not getattr(payment, name).strip()]
    if missing:
        raise PayloadError(
            f"C2B confirmation lacks {', '.join(missing)}; expected TransID, TransTime, "
            "TransAmount and BusinessShortCode",
            field=missing[0],
            code=ErrorCode.PAYLOAD_MISSING_FIELD,
        )
    receipt = payment.trans_id.strip()
    problem = receipt_problem(receipt)
    if problem is not None:
        raise PayloadError(
            f"TransID {receipt[:60]!r} is not an M-Pesa receipt: {problem}", field="TransID"
        )
    amount = payment.amount
    if amount <= 0:
        raise PayloadError(
            f"TransAmount {payment.trans_amount!r} is not a positive amount", field="TransAmount"
        )
    when = payment.transaction_time
    try:
        balance = payment.balance
    except PayloadError as exc:
        # The money is the fact that matters; a balance we cannot read is left out.
        log.warning(
            "OrgAccountBalance could not be read; stored without it",
            extra={"receipt_number": receipt, "error": exc.message},
        )
        balance = None
    raw_msisdn = payment.msisdn.strip()
    kind = classify_msisdn(raw_msisdn)
    msisdn = normalize_msisdn(raw_msisdn) if kind is MsisdnKind.PLAIN else raw_msisdn
    return Confirmation(
        receipt_number=receipt,
        transaction_time=when,
        amount=amount,
        balance=balance,
        transaction_type=_text(payment.transaction_type, 50),
        # Stored as the customer typed it; compared through account_key (trimmed, upper).
        account_number=payment.bill_ref_number[:100] if payment.bill_ref_number.strip() else None,
        msisdn=_text(msisdn, 100),
        msisdn_hash=matching_hash(raw_msisdn),
        first_name=_text(payment.first_name, 100),
        middle_name=_text(payment.middle_name, 100),
        last_name=_text(payment.last_name, 100),
        business_short_code=payment.business_short_code.strip()[:20],
        invoice_number=_text(payment.invoice_number, 100),
        third_party_trans_id=_text(payment.third_party_trans_id, 100),
    )


def _money(c: Confirmation, account: Account | None) -> MoneyReceived:
    """Return a confirmation as money received for the ledger.

    A row another source recorded gains the confirmation's details where it has
    none; its amount, source and link stay. A repeat confirmation changes nothing.
    """
    details: dict[str, Any] = {
        "msisdn": c.msisdn,
        "msisdn_hash": c.msisdn_hash,
        "first_name": c.first_name,
        "middle_name": c.middle_name,
        "last_name": c.last_name,
        "business_short_code": c.business_short_code or None,
        "account_number": c.account_number,
        "account_key": account_key(c.account_number) or None,
        "host_account_id": account.account_id if account is not None else None,
        "invoice_number": c.invoice_number,
        "third_party_trans_id": c.third_party_trans_id,
    }
    return MoneyReceived(
        receipt_number=c.receipt_number,
        source=PaymentSource.IPN,
        amount=c.amount,
        completion_time=c.transaction_time,
        confirmed_column="confirmed_by_ipn_at",
        columns={
            **details,
            "transaction_type": c.transaction_type,
            "balance": c.balance,
            "reason_type": reason_type_from_c2b(c.transaction_type),
            "reason_type_raw": c.transaction_type,
        },
        fill={**details, "balance": c.balance},
        account_reference=normalize_account_reference(c.account_number) or None,
        account_known=account is not None,
        payer_name=c.payer_name,
    )


class C2BConfirmations(Flow):
    """Record C2B confirmations: the raw body kept first, then one row per receipt."""

    # -- confirmation ---------------------------------------------------------------

    async def handle_confirmation(self, incoming: IncomingCallback) -> CallbackOutcome:
        """Keep the raw confirmation, then record it. Never raises once the body is kept.

        The raw body's connection goes back to the pool before the host's account
        look-up (a host may use the same pool: holding it there could starve it).
        Whatever stops the body being applied after it is safe — the database
        dropping, no connection to be had — leaves it ``RECEIVED`` for the sweep:
        Safaricom is told Accepted either way.
        """
        with bind_correlation_id(incoming.correlation_id):
            try:
                log_id = await self._callbacks.store(incoming)
            except CallbackSpooled:
                return CallbackOutcome.RECEIVED  # applied when the spool is replayed
            try:
                return await self._apply(log_id, incoming.body, incoming.content_type, None)
            except Exception:
                log.exception(
                    "C2B confirmation kept but not applied; the sweep applies it",
                    extra={"callback_log_id": log_id},
                )
                return CallbackOutcome.RECEIVED

    async def apply_confirmation(
        self, log_id: int, body: bytes, content_type: str | None = None
    ) -> CallbackOutcome:
        """Read and record a stored confirmation (also used to replay one).

        On a connection of its own, so its events are delivered as it commits.
        """
        return await self._apply(log_id, body, content_type, None)

    async def _apply(
        self, log_id: int, body: bytes, content_type: str | None, conn: AsyncConnection | None
    ) -> CallbackOutcome:
        """Read and record a stored confirmation on ``conn`` (default: one from the pool)."""
        try:
            confirmation = read_confirmation(body, content_type)
        except PayloadError as exc:
            log.warning(
                "C2B confirmation could not be read; kept for replay",
                extra={"callback_log_id": log_id, "error_code": str(exc.code), "field": exc.field},
            )
            async with transaction(self._engine, conn) as tx:
                await self._callbacks.mark(
                    log_id,
                    CallbackOutcome.FAILED,
                    conn=tx,
                    error_code=str(exc.code),
                    error_message=exc.message,
                )
            return CallbackOutcome.FAILED
        receipt = confirmation.receipt_number
        account = await self._lookup(confirmation)
        try:
            outcome = await self._record_retrying(log_id, confirmation, account, conn)
        except IntegrityError as exc:
            return await self._failed(log_id, receipt, exc, "conflicts with stored data", conn)
        except Exception as exc:  # a bug must not lose the body: keep it for a replay
            if is_database_unavailable(exc):
                raise  # not the body's fault: it stays RECEIVED and the sweep retries it
            return await self._failed(log_id, receipt, exc, "could not be recorded", conn)
        log.info(
            "C2B confirmation %s",
            "recorded" if outcome is CallbackOutcome.APPLIED else "already known",
            extra={"callback_log_id": log_id, "receipt_number": receipt},
        )
        return outcome

    async def _record_retrying(
        self,
        log_id: int,
        confirmation: Confirmation,
        account: Account | None,
        conn: AsyncConnection | None,
    ) -> CallbackOutcome:
        # A confirmation and an STK callback for one receipt lock the same rows from
        # opposite ends; the database breaks such a deadlock by rolling one back.
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                return await self._record(log_id, confirmation, account, conn)
            except DBAPIError as exc:
                if not (is_transient_conflict(exc) and attempt < TRANSIENT_RETRIES):
                    raise
                await transient_pause(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _failed(
        self, log_id: int, receipt: str, exc: Exception, what: str, conn: AsyncConnection | None
    ) -> CallbackOutcome:
        log.exception(
            "C2B confirmation %s; kept for replay",
            what,
            extra={"callback_log_id": log_id, "receipt_number": receipt},
        )
        async with transaction(self._engine, conn) as tx:
            await self._callbacks.mark(
                log_id,
                CallbackOutcome.FAILED,
                conn=tx,
                reference=receipt,
                error_code=str(ErrorCode.CALLBACK_FAILED),
                error_message=f"{what}: {describe_error(exc)}",
            )
        return CallbackOutcome.FAILED

    async def _lookup(self, confirmation: Confirmation) -> Account | None:
        # Hooks never decide whether a payment is stored
        # (docs/architecture.md#hooks-never-decide-storage).
        try:
            return await lookup_account(self._pm, confirmation.account_number)
        except Exception:
            log.exception(
                "mpesa_lookup_account failed; payment recorded without an account",
                extra={"receipt_number": confirmation.receipt_number},
            )
            return None

    async def _record(
        self, log_id: int, c: Confirmation, account: Account | None, on: AsyncConnection | None
    ) -> CallbackOutcome:
        """Record the confirmation through the ledger and mark its body, in one transaction."""
        receipt = c.receipt_number
        # On the caller's connection (``on``), the caller delivers once it has let go.
        async with self._outbox.transaction(on) as conn:
            recorded = await self._ledger.receive(conn, _money(c, account))
            outcome = (
                CallbackOutcome.DUPLICATE
                if recorded.outcome is LedgerOutcome.KNOWN
                else CallbackOutcome.APPLIED
            )
            await self._callbacks.mark(log_id, outcome, conn=conn, reference=receipt)
        return outcome
