"""a delivery id per callback body, unique: a body spooled after an unacknowledged commit is not stored twice

When the database drops during a commit the kit cannot know whether the raw
body was stored; it spools it. The spool replay inserts it again with the
same delivery id, and the unique index makes that a no-op when the first
commit did land (also after a worker was killed between storing a spooled
body and deleting its file).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mpesa_callback_log"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("delivery_id", sa.String(length=36), nullable=True))
        batch.create_index("uq_callback_delivery", ["delivery_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index("uq_callback_delivery")
        batch.drop_column("delivery_id")
