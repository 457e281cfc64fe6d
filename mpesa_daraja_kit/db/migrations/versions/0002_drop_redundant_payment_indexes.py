"""drop the payment indexes that repeat another index

``idx_transaction_reference`` is the leading column of the unique key
``(transaction_reference, entry_key)``, so every look-up by receipt already
uses that key; ``idx_transaction_reference_source`` adds a column the key
narrows to a handful of rows anyway; ``idx_source`` has three values and is
never selective. Each cost every insert (a statement import writes tens of
thousands of rows: 22 % of SQLite's insert time) and answered nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mpesa_payment_report_items"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index("idx_transaction_reference")
        batch.drop_index("idx_transaction_reference_source")
        batch.drop_index("idx_source")


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.create_index("idx_source", ["source"], unique=False)
        batch.create_index(
            "idx_transaction_reference_source", ["transaction_reference", "source"], unique=False
        )
        batch.create_index("idx_transaction_reference", ["transaction_reference"], unique=False)
