"""Fast bulk inserts: values converted once to the driver's own types, no per-value processors.

A statement import writes tens of thousands of rows; SQLAlchemy's per-value bind
processors (the UTC type decorator, enums, UUIDs) cost more than the database
does. :func:`bulk_insert` converts each value with one function chosen per
(dialect, column type) — producing exactly what those processors would — and
executes the insert against a processor-free copy of the table. A test checks
that rows written this way read back through the typed tables unchanged.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import NullType

from mpesa_daraja_kit.db.types import UTCDateTime

__all__ = ["bulk_insert"]

Converter = Callable[[Any], Any]
_CACHE: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[str], list[Converter]]] = {}


def _same(value: Any) -> Any:
    return value


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; the kit stores aware UTC")
    return value.astimezone(UTC).replace(tzinfo=None)


@functools.lru_cache(maxsize=8192)
def _sqlite_datetime(value: datetime | None) -> str | None:
    naive = _naive_utc(value)
    # The text SQLAlchemy's SQLite DATETIME writes: "YYYY-MM-DD HH:MM:SS.ffffff".
    return None if naive is None else naive.isoformat(" ", "microseconds")


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; the kit stores aware UTC")
    return value.astimezone(UTC)


def _uuid_hex(value: Any) -> Any:
    return value.hex if isinstance(value, uuid.UUID) else value


def _sqlite_number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _converter(column: sa.Column[Any], dialect: str) -> Converter:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        if dialect == "sqlite":
            return _sqlite_datetime
        return _aware_utc if dialect == "postgresql" else _naive_utc
    if isinstance(kind, sa.Enum):
        return _enum_value
    if isinstance(kind, sa.Uuid):
        return _same if dialect == "postgresql" else _uuid_hex
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return _sqlite_number if dialect == "sqlite" else _same
    if isinstance(kind, sa.Boolean):
        return _sqlite_bool if dialect == "sqlite" else _same
    if isinstance(kind, sa.JSON) or kind.__class__.__name__ in ("JSONB", "JSON"):
        return _json  # every driver takes JSON as text here (asyncpg's jsonb codec too)
    return _same


def _plan(
    table: sa.Table, dialect: Dialect, names: tuple[str, ...]
) -> tuple[str, list[str], list[Converter]]:
    key = (table.name, dialect.name, names)
    plan = _CACHE.get(key)
    if plan is None:
        columns = [table.c[name] for name in names]
        light = sa.Table(
            table.name, sa.MetaData(), *(sa.Column(c.name, NullType()) for c in columns)
        )
        # Compiled once, in the driver's own parameter style, executed with plain tuples:
        # no per-row parameter processing at all on the way to the driver.
        compiled = sa.insert(light).compile(dialect=dialect)
        order = list(compiled.positiontup or names)
        by_name = {c.name: _converter(c, dialect.name) for c in columns}
        plan = (str(compiled), order, [by_name[name] for name in order])
        _CACHE[key] = plan
    return plan


async def bulk_insert(
    conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]], *, chunk: int = 1000
) -> None:
    """Insert ``rows`` (all with the same keys) into ``table`` in chunks of ``chunk``."""
    if not rows:
        return
    sql, order, converters = _plan(table, conn.dialect, tuple(rows[0]))
    pairs = list(zip(order, converters, strict=True))
    for start in range(0, len(rows), chunk):
        converted = [
            tuple([convert(row[name]) for name, convert in pairs])
            for row in rows[start : start + chunk]
        ]
        await conn.exec_driver_sql(sql, converted)
