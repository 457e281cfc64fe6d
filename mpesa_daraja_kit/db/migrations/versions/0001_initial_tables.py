"""initial tables

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

import mpesa_daraja_kit.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mpesa_callback_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "STK_CALLBACK",
                "C2B_CONFIRMATION",
                "C2B_VALIDATION",
                name="mpesa_callback_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "RECEIVED",
                "APPLIED",
                "DUPLICATE",
                "WAITING",
                "FAILED",
                "REFUSED",
                name="mpesa_callback_outcome",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "raw_body",
            sa.LargeBinary()
            .with_variant(mysql.LONGBLOB(), "mariadb")
            .with_variant(mysql.LONGBLOB(), "mysql"),
            nullable=False,
        ),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=1000), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "received_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "processed_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpesa_callback_log")),
    )
    op.create_index(
        "idx_callback_outcome_received",
        "mpesa_callback_log",
        ["outcome", "received_at"],
        unique=False,
    )
    op.create_index(
        "idx_callback_reference", "mpesa_callback_log", ["kind", "reference"], unique=False
    )
    op.create_index(
        op.f("ix_mpesa_callback_log_correlation_id"),
        "mpesa_callback_log",
        ["correlation_id"],
        unique=False,
    )
    op.create_table(
        "mpesa_event_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING", "DELIVERED", name="mpesa_outbox_status", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "locked_until", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "delivered_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpesa_event_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mpesa_event_outbox_dedupe_key")),
    )
    op.create_index(
        "idx_outbox_status_next_attempt",
        "mpesa_event_outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "mpesa_oauth_tokens",
        sa.Column("cache_key", sa.String(length=200), nullable=False),
        sa.Column("access_token", sa.String(length=2000), nullable=False),
        sa.Column(
            "expires_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("cache_key", name=op.f("pk_mpesa_oauth_tokens")),
    )
    op.create_table(
        "mpesa_payment_report_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("family", sa.String(length=4), nullable=False),
        sa.Column("uploaded_by", sa.String(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "PROCESSING",
                "COMPLETED",
                "PARTIAL",
                "FAILED",
                name="mpesa_upload_status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("short_code", sa.String(length=20), nullable=True),
        sa.Column(
            "period_from", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("period_to", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "preamble",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("total_statement_items", sa.Integer(), nullable=False),
        sa.Column("matched_ipn_records", sa.Integer(), nullable=False),
        sa.Column("duplicate_statement_records", sa.Integer(), nullable=False),
        sa.Column("gaps_filled", sa.Integer(), nullable=False),
        sa.Column("failed_item_count", sa.Integer(), nullable=False),
        sa.Column(
            "failed_items",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column(
            "started_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "finished_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpesa_payment_report_uploads")),
    )
    op.create_index(
        op.f("ix_mpesa_payment_report_uploads_file_sha256"),
        "mpesa_payment_report_uploads",
        ["file_sha256"],
        unique=False,
    )
    op.create_table(
        "mpesa_stk_push_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("merchant_request_id", sa.String(length=100), nullable=True),
        sa.Column("checkout_request_id", sa.String(length=100), nullable=True),
        sa.Column("phone_number", sa.String(length=20), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("account_reference", sa.String(length=100), nullable=False),
        sa.Column("account_key", sa.String(length=100), nullable=False),
        sa.Column("transaction_desc", sa.String(length=500), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "EXPIRED",
                name="mpesa_stk_push_status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("result_code", sa.String(length=20), nullable=True),
        sa.Column("result_desc", sa.String(length=500), nullable=True),
        sa.Column("receipt_number", sa.String(length=50), nullable=True),
        sa.Column("linked_transaction_id", sa.String(length=100), nullable=True),
        sa.Column(
            "transaction_date", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("initiated_by", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("host_account_id", sa.String(length=255), nullable=True),
        sa.Column("active_phone", sa.String(length=20), nullable=True),
        sa.Column("outcome_unknown", sa.Boolean(), nullable=False),
        sa.Column("reconcile_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_reconcile_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_reconciled_at",
            mpesa_daraja_kit.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "verified_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "missing_ipn_notified_at",
            mpesa_daraja_kit.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "initiated_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "completed_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpesa_stk_push_requests")),
        sa.UniqueConstraint("active_phone", name=op.f("uq_mpesa_stk_push_requests_active_phone")),
        sa.UniqueConstraint(
            "checkout_request_id", name=op.f("uq_mpesa_stk_push_requests_checkout_request_id")
        ),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_mpesa_stk_push_requests_idempotency_key")
        ),
        sa.UniqueConstraint(
            "receipt_number", name=op.f("uq_mpesa_stk_push_requests_receipt_number")
        ),
    )
    op.create_index(
        "idx_stk_account_reference", "mpesa_stk_push_requests", ["account_reference"], unique=False
    )
    op.create_index(
        "idx_stk_link_heuristic",
        "mpesa_stk_push_requests",
        ["account_key", "phone_hash", "created_at"],
        unique=False,
    )
    op.create_index(
        "idx_stk_phone_number", "mpesa_stk_push_requests", ["phone_number"], unique=False
    )
    op.create_index(
        "idx_stk_reconcile",
        "mpesa_stk_push_requests",
        ["status", "next_reconcile_at"],
        unique=False,
    )
    op.create_index(
        "idx_stk_status_created_at",
        "mpesa_stk_push_requests",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "mpesa_payment_report_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("transaction_reference", sa.String(length=50), nullable=False),
        sa.Column("entry_key", sa.String(length=160), nullable=False),
        sa.Column(
            "entry_kind",
            sa.Enum(
                "RECEIVED",
                "CHARGE",
                "SWEEP",
                "OTHER",
                "NOT_COMPLETED",
                name="mpesa_entry_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "direction",
            sa.Enum("IN", "OUT", name="mpesa_direction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "IPN",
                "STATEMENT",
                "STK_CALLBACK",
                name="mpesa_payment_source",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "completion_time", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "initiation_time", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("transaction_status", sa.String(length=50), nullable=False),
        sa.Column("transaction_type", sa.String(length=50), nullable=True),
        sa.Column("paid_in", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("withdrawn", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("balance", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("balance_confirmed", sa.Boolean(), nullable=True),
        sa.Column(
            "reason_type",
            sa.Enum(
                "PayBill_STK",
                "Ratiba",
                "Paybill_MobileApp",
                "PayBill_Fuliza_STK",
                "PayBill_Fuliza_Online",
                "Withdrawal",
                "Unmapped",
                name="mpesa_statement_reason_type",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason_type_raw", sa.String(length=100), nullable=True),
        sa.Column("other_party_info", sa.String(length=255), nullable=True),
        sa.Column("linked_transaction_id", sa.String(length=100), nullable=True),
        sa.Column("account_number", sa.String(length=100), nullable=True),
        sa.Column("account_key", sa.String(length=100), nullable=True),
        sa.Column("host_account_id", sa.String(length=255), nullable=True),
        sa.Column("msisdn", sa.String(length=100), nullable=True),
        sa.Column("msisdn_hash", sa.String(length=64), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("middle_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("business_short_code", sa.String(length=20), nullable=True),
        sa.Column("invoice_number", sa.String(length=100), nullable=True),
        sa.Column("third_party_trans_id", sa.String(length=100), nullable=True),
        sa.Column("mpesa_payment_report_upload_id", sa.Uuid(), nullable=True),
        sa.Column("mpesa_stk_push_request_id", sa.Uuid(), nullable=True),
        sa.Column("link_method", sa.String(length=16), nullable=True),
        sa.Column(
            "confirmed_by_ipn_at",
            mpesa_daraja_kit.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "confirmed_by_stk_at",
            mpesa_daraja_kit.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "confirmed_by_statement_at",
            mpesa_daraja_kit.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "created_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", mpesa_daraja_kit.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["mpesa_payment_report_upload_id"],
            ["mpesa_payment_report_uploads.id"],
            name=op.f(
                "fk_mpesa_payment_report_items_mpesa_payment_report_upload_id_mpesa_payment_report_uploads"
            ),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mpesa_stk_push_request_id"],
            ["mpesa_stk_push_requests.id"],
            name=op.f(
                "fk_mpesa_payment_report_items_mpesa_stk_push_request_id_mpesa_stk_push_requests"
            ),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpesa_payment_report_items")),
        sa.UniqueConstraint(
            "mpesa_stk_push_request_id",
            name=op.f("uq_mpesa_payment_report_items_mpesa_stk_push_request_id"),
        ),
        sa.UniqueConstraint(
            "transaction_reference", "entry_key", name="uq_mpesa_payment_items_receipt_entry"
        ),
    )
    op.create_index("idx_account_key", "mpesa_payment_report_items", ["account_key"], unique=False)
    op.create_index(
        "idx_account_number", "mpesa_payment_report_items", ["account_number"], unique=False
    )
    op.create_index(
        "idx_completion_time", "mpesa_payment_report_items", ["completion_time"], unique=False
    )
    op.create_index(
        "idx_mpesa_payment_report_upload_id",
        "mpesa_payment_report_items",
        ["mpesa_payment_report_upload_id"],
        unique=False,
    )
    op.create_index("idx_msisdn_hash", "mpesa_payment_report_items", ["msisdn_hash"], unique=False)
    op.create_index("idx_source", "mpesa_payment_report_items", ["source"], unique=False)
    op.create_index(
        "idx_transaction_reference",
        "mpesa_payment_report_items",
        ["transaction_reference"],
        unique=False,
    )
    op.create_index(
        "idx_transaction_reference_source",
        "mpesa_payment_report_items",
        ["transaction_reference", "source"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop an index that a
    # foreign key still needs, so tables go children first, indexes with them.
    for table in (
        "mpesa_payment_report_items",
        "mpesa_stk_push_requests",
        "mpesa_payment_report_uploads",
        "mpesa_oauth_tokens",
        "mpesa_event_outbox",
        "mpesa_callback_log",
    ):
        op.drop_table(table)
