"""The kit's tables: its own ``MetaData``, every name prefixed ``mpesa_``.

See docs/architecture.md#tables-and-names.

Idempotency is a database fact here, not a read-then-write:

- one row per M-Pesa receipt for money received: ``(transaction_reference,
  entry_key)`` is unique and money received has ``entry_key = ''``; other
  statement rows (charge twins, sweeps) share their receipt but carry
  ``direction|kind|reason`` as their key;
- an STK request's ``checkout_request_id``, ``receipt_number`` and caller
  ``idempotency_key`` are unique, and a payment row links to at most one
  request (``mpesa_stk_push_request_id`` is unique);
- an event's ``dedupe_key`` is unique, so the same change cannot queue the
  same event twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mpesa_daraja_kit.db.types import JSONDocument, Money, RawBytes, UTCDateTime, enum_column_type
from mpesa_daraja_kit.enums import (
    CallbackKind,
    CallbackOutcome,
    Direction,
    EntryKind,
    PaymentSource,
    StatementReasonType,
    StkPushStatus,
    UploadStatus,
)

__all__ = [
    "TABLE_PREFIX",
    "Base",
    "CallbackLog",
    "EventOutbox",
    "OAuthToken",
    "OutboxStatus",
    "PaymentReportItem",
    "PaymentReportUpload",
    "StkPushRequest",
    "metadata",
]

TABLE_PREFIX = "mpesa_"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class OutboxStatus(StrEnum):
    """Delivery state of an outbox event."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"  # failed max_attempts times; waits for redeliver


class Base(DeclarativeBase):
    """Declarative base bound to the kit's own metadata (never the host's)."""

    metadata = metadata
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Decimal: Money,
        uuid.UUID: sa.Uuid(),
        dict[str, Any]: JSONDocument,
    }


# No Python-side default: every timestamp comes from the kit's injected clock, written
# explicitly by the service that inserts or updates the row (one clock, never two).
def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), nullable=False)


_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class PaymentReportUpload(Base):
    """One statement upload, with its file hash, preamble and statistics."""

    __tablename__ = "mpesa_payment_report_uploads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    file_name: Mapped[str] = mapped_column(sa.String(255), default="")
    file_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    file_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    file_format: Mapped[str] = mapped_column(sa.String(8), default="")
    family: Mapped[str] = mapped_column(sa.String(4), default="")
    uploaded_by: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[UploadStatus] = mapped_column(
        enum_column_type(UploadStatus, "mpesa_upload_status"), default=UploadStatus.PROCESSING
    )
    short_code: Mapped[str | None] = mapped_column(sa.String(20))
    period_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    preamble: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    total_statement_items: Mapped[int] = mapped_column(default=0)
    matched_ipn_records: Mapped[int] = mapped_column(default=0)
    duplicate_statement_records: Mapped[int] = mapped_column(default=0)
    gaps_filled: Mapped[int] = mapped_column(default=0)
    failed_item_count: Mapped[int] = mapped_column(default=0)
    failed_items: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()


class StkPushRequest(Base):
    """One M-Pesa Express prompt: the original plan's model plus Daraja's own ids."""

    __tablename__ = "mpesa_stk_push_requests"
    __table_args__ = (
        sa.Index("idx_stk_status_created_at", "status", "created_at"),
        sa.Index("idx_stk_account_reference", "account_reference"),
        sa.Index("idx_stk_phone_number", "phone_number"),
        sa.Index("idx_stk_link_heuristic", "account_key", "phone_hash", "created_at"),
        sa.Index("idx_stk_reconcile", "status", "next_reconcile_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    merchant_request_id: Mapped[str | None] = mapped_column(sa.String(100))
    checkout_request_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    phone_number: Mapped[str] = mapped_column(sa.String(20))
    phone_hash: Mapped[str] = mapped_column(sa.String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    account_reference: Mapped[str] = mapped_column(sa.String(100))
    account_key: Mapped[str] = mapped_column(sa.String(100))
    transaction_desc: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[StkPushStatus] = mapped_column(
        enum_column_type(StkPushStatus, "mpesa_stk_push_status"), default=StkPushStatus.PENDING
    )
    result_code: Mapped[str | None] = mapped_column(sa.String(20))
    result_desc: Mapped[str | None] = mapped_column(sa.String(500))
    receipt_number: Mapped[str | None] = mapped_column(sa.String(50), unique=True)
    linked_transaction_id: Mapped[str | None] = mapped_column(sa.String(100))
    transaction_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    initiated_by: Mapped[str | None] = mapped_column(sa.String(255))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    host_account_id: Mapped[str | None] = mapped_column(sa.String(255))
    # The phone while the prompt is PENDING, NULL once final: a unique column, so two
    # prompts cannot be open on one phone at once (Daraja would lock the subscriber).
    active_phone: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    outcome_unknown: Mapped[bool] = mapped_column(default=False)
    reconcile_attempts: Mapped[int] = mapped_column(default=0)
    next_reconcile_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    missing_ipn_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    initiated_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class PaymentReportItem(Base):
    """One money movement; exactly one row per receipt for money received."""

    __tablename__ = "mpesa_payment_report_items"
    __table_args__ = (
        # The unique key also serves every look-up by receipt (its leading column);
        # migration 0002 dropped the indexes that repeated it, and one on `source`.
        sa.UniqueConstraint(
            "transaction_reference", "entry_key", name="uq_mpesa_payment_items_receipt_entry"
        ),
        sa.Index("idx_account_number", "account_number"),
        sa.Index("idx_account_key", "account_key"),
        sa.Index("idx_msisdn_hash", "msisdn_hash"),
        sa.Index("idx_completion_time", "completion_time"),
        sa.Index("idx_mpesa_payment_report_upload_id", "mpesa_payment_report_upload_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    transaction_reference: Mapped[str] = mapped_column(sa.String(50))
    entry_key: Mapped[str] = mapped_column(sa.String(160), default="")
    entry_kind: Mapped[EntryKind] = mapped_column(
        enum_column_type(EntryKind, "mpesa_entry_kind"), default=EntryKind.RECEIVED
    )
    direction: Mapped[Direction] = mapped_column(
        enum_column_type(Direction, "mpesa_direction"), default=Direction.IN
    )
    source: Mapped[PaymentSource] = mapped_column(
        enum_column_type(PaymentSource, "mpesa_payment_source"), default=PaymentSource.IPN
    )
    completion_time: Mapped[datetime] = mapped_column(UTCDateTime())
    initiation_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    details: Mapped[str | None] = mapped_column(sa.Text)
    transaction_status: Mapped[str] = mapped_column(sa.String(50), default="Completed")
    transaction_type: Mapped[str | None] = mapped_column(sa.String(50))
    paid_in: Mapped[Decimal | None] = mapped_column(Money)
    withdrawn: Mapped[Decimal | None] = mapped_column(Money)
    balance: Mapped[Decimal | None] = mapped_column(Money)
    balance_confirmed: Mapped[bool | None] = mapped_column()
    reason_type: Mapped[StatementReasonType] = mapped_column(
        enum_column_type(StatementReasonType, "mpesa_statement_reason_type"),
        default=StatementReasonType.Unmapped,
    )
    reason_type_raw: Mapped[str | None] = mapped_column(sa.String(100))
    other_party_info: Mapped[str | None] = mapped_column(sa.String(255))
    linked_transaction_id: Mapped[str | None] = mapped_column(sa.String(100))
    account_number: Mapped[str | None] = mapped_column(sa.String(100))
    account_key: Mapped[str | None] = mapped_column(sa.String(100))
    host_account_id: Mapped[str | None] = mapped_column(sa.String(255))
    msisdn: Mapped[str | None] = mapped_column(sa.String(100))
    msisdn_hash: Mapped[str | None] = mapped_column(sa.String(64))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    middle_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    business_short_code: Mapped[str | None] = mapped_column(sa.String(20))
    invoice_number: Mapped[str | None] = mapped_column(sa.String(100))
    third_party_trans_id: Mapped[str | None] = mapped_column(sa.String(100))
    mpesa_payment_report_upload_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("mpesa_payment_report_uploads.id", ondelete="SET NULL")
    )
    mpesa_stk_push_request_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("mpesa_stk_push_requests.id", ondelete="SET NULL"), unique=True
    )
    # "receipt" (MpesaReceiptNumber = TransID) or "heuristic" (account + phone hash +
    # amount + time); a receipt link replaces a heuristic one, never the reverse.
    link_method: Mapped[str | None] = mapped_column(sa.String(16))
    confirmed_by_ipn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_stk_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_statement_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class CallbackLog(Base):
    """Every callback body exactly as received, written before it is parsed."""

    __tablename__ = "mpesa_callback_log"
    __table_args__ = (
        sa.Index("idx_callback_outcome_received", "outcome", "received_at"),
        sa.Index("idx_callback_reference", "kind", "reference"),
        # One row per delivery: a spooled copy of a body whose commit did land is not stored again.
        sa.Index("uq_callback_delivery", "delivery_id", unique=True),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True, autoincrement=True)
    kind: Mapped[CallbackKind] = mapped_column(
        enum_column_type(CallbackKind, "mpesa_callback_kind")
    )
    outcome: Mapped[CallbackOutcome] = mapped_column(
        enum_column_type(CallbackOutcome, "mpesa_callback_outcome"),
        default=CallbackOutcome.RECEIVED,
    )
    raw_body: Mapped[bytes] = mapped_column(RawBytes)
    content_type: Mapped[str | None] = mapped_column(sa.String(255))
    source_address: Mapped[str | None] = mapped_column(sa.String(64))
    correlation_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    delivery_id: Mapped[str | None] = mapped_column(sa.String(36))
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.String(1000))
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = _created()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EventOutbox(Base):
    """Events written in the transaction of the change they describe; delivered after commit."""

    __tablename__ = "mpesa_event_outbox"
    __table_args__ = (sa.Index("idx_outbox_status_next_attempt", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(sa.String(64))
    dedupe_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column_type(OutboxStatus, "mpesa_outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = _created()
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OAuthToken(Base):
    """A Daraja OAuth token shared by every worker (a new token may invalidate the old)."""

    __tablename__ = "mpesa_oauth_tokens"

    cache_key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    access_token: Mapped[str] = mapped_column(sa.String(2000))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = _updated()


# The tables themselves, typed as Table, for Core statements in the services.
payment_items = cast(sa.Table, PaymentReportItem.__table__)
payment_uploads = cast(sa.Table, PaymentReportUpload.__table__)
stk_requests = cast(sa.Table, StkPushRequest.__table__)
callback_log = cast(sa.Table, CallbackLog.__table__)
event_outbox = cast(sa.Table, EventOutbox.__table__)
oauth_tokens = cast(sa.Table, OAuthToken.__table__)
