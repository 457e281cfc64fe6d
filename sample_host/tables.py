"""The insurer's own tables, beside the kit's in the same database.

A real host keeps these under its own Alembic history; the sample creates them
at start-up (``create_all`` only adds what is missing) so that two commands are
enough. The kit's tables are the kit's business: ``kit.migrate()`` makes them,
with the kit's own version table, and never touches these.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["customers", "handled_events", "metadata", "policies", "premiums"]

metadata = sa.MetaData()

customers = sa.Table(
    "insurer_customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("phone", sa.String(12), nullable=False),
)

policies = sa.Table(
    "insurer_policies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(20), nullable=False, unique=True),
    sa.Column("product", sa.String(60), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("insurer_customers.id"), nullable=False),
    sa.Column("premium", sa.Numeric(12, 2), nullable=False),
    # What the customer types as the paybill "account number" (at most 12 characters,
    # Daraja's AccountReference limit), stored upper-case.
    sa.Column("payment_account_number", sa.String(12), nullable=False, unique=True),
    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
)

premiums = sa.Table(
    "insurer_premiums",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("policy_id", sa.Integer, sa.ForeignKey("insurer_policies.id"), nullable=False),
    # One premium per M-Pesa receipt: the kit reports each receipt once, and the
    # constraint keeps it so even if a hook runs twice.
    sa.Column("receipt_number", sa.String(20), nullable=False, unique=True),
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("stk_push_request_id", sa.String(36), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

handled_events = sa.Table(
    "insurer_handled_events",
    metadata,
    # The kit delivers events at least once: an event id seen here was handled.
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("hook", sa.String(64), nullable=False),
    sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
)
