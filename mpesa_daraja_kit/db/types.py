"""Column types that behave the same on SQLite, PostgreSQL and MariaDB.

- :class:`UTCDateTime` stores aware datetimes as UTC and always loads them
  aware: PostgreSQL keeps ``timestamptz``; SQLite and MariaDB have no time
  zone in the column, so the value is stored as naive UTC (MariaDB with
  microseconds, ``DATETIME(6)``) and UTC is attached again on load.
- :data:`Money` is ``Numeric(12, 2)`` loaded as :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect

__all__ = ["JSONDocument", "Money", "RawBytes", "UTCDateTime", "enum_column_type"]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime on every database; naive values are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; the kit stores aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Money = sa.Numeric(12, 2, asdecimal=True)
"""Money column type: exact cents, loaded as Decimal."""

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
"""A JSON document (JSONB on PostgreSQL)."""


RawBytes = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
"""Raw request bytes (LONGBLOB on MariaDB, whose BLOB stops at 64 KiB)."""


def enum_column_type(enum_cls: type[Any], name: str) -> sa.Enum:
    """Return a portable enum type: VARCHAR storing the values, checked by the ORM."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
