"""Fast bulk inserts: values converted once to the driver's own types, no per-value processors.

A statement import writes tens of thousands of rows; SQLAlchemy's per-value bind
processors (the UTC type decorator, enums, UUIDs) cost more than the database
does. A :class:`BulkPlan` holds, per (table, dialect, columns), one converter per
column — producing exactly what those processors would — and the insert
compiled for a processor-free copy of the table. Callers build plain tuples
with the converters (:meth:`BulkPlan.encode` from dicts, or directly in hot
paths) and :func:`insert_tuples` writes them: PostgreSQL's binary ``COPY``
through asyncpg, a driver ``executemany`` elsewhere. A test checks that rows
written either way read back through the typed tables unchanged.

Like any insert, a bulk insert is all or nothing: a row that breaks a unique
key fails the whole call with :class:`sqlalchemy.exc.IntegrityError` (callers
redo such a batch row by row), and other database errors surface as
:class:`sqlalchemy.exc.DBAPIError`, whichever path wrote the rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from mpesa_daraja_kit.db.queries import is_unique_violation
from mpesa_daraja_kit.db.types import UTCDateTime

__all__ = [
    "BulkPlan",
    "bulk_insert",
    "bulk_plan",
    "in_values",
    "insert_tuples",
    "insert_tuples_one_by_one",
    "max_in_values",
    "new_uuid4_hex",
    "placeholders",
]

Converter = Callable[[Any], Any]
_CACHE: dict[tuple[str, str, str, tuple[str, ...]], BulkPlan] = {}

_V4_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_V4_BITS = (0x4000 << 64) | (0x8000 << 48)


def new_uuid4_hex(count: int) -> list[str]:
    """Return ``count`` random (version 4) UUIDs as 32 hex digits, cheaply.

    ``uuid.uuid4()`` builds an object with checks (about 3 µs); a large import
    needs hundreds of thousands of ids and only their text. The same random
    source (``os.urandom``) and the same version and variant bits.
    """
    raw = os.urandom(16 * count)
    from_bytes = int.from_bytes
    return [
        "%032x" % (from_bytes(raw[i : i + 16]) & _V4_MASK | _V4_BITS)
        for i in range(0, 16 * count, 16)
    ]


def _same(value: Any) -> Any:
    return value


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is UTC:
        return value.replace(tzinfo=None)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; the kit stores aware UTC")
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # The text SQLAlchemy's SQLite DATETIME writes: "YYYY-MM-DD HH:MM:SS.ffffff".
    if value is None:
        return None
    if value.tzinfo is UTC:  # the common case, taken without a conversion
        return value.isoformat(" ", "microseconds")[:26]
    naive = _naive_utc(value)
    return None if naive is None else naive.isoformat(" ", "microseconds")


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; the kit stores aware UTC")
    return value.astimezone(UTC)


def _uuid_hex(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, str) and len(value) == 36:
        return value.replace("-", "")
    return value


def _uuid_text(value: Any) -> Any:
    # asyncpg takes a uuid.UUID or its text, with or without hyphens.
    return value


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
        return _uuid_text if dialect == "postgresql" else _uuid_hex
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return _sqlite_number if dialect == "sqlite" else _same
    if isinstance(kind, sa.Boolean):
        return _sqlite_bool if dialect == "sqlite" else _same
    if isinstance(kind, sa.JSON) or kind.__class__.__name__ in ("JSONB", "JSON"):
        return _json  # every driver takes JSON as text here (asyncpg's jsonb codec too)
    return _same


@attrs.frozen(eq=False)  # one cached plan per key: compared (and hashed) by identity
class BulkPlan:
    """How to write ``names`` of ``table`` on one dialect: converters and the compiled insert.

    ``convert[name]`` turns a Python value (aware datetime, enum, UUID or its
    text, Decimal, JSON-able value or JSON text) into what the driver takes;
    tuples passed to :func:`insert_tuples` hold converted values in ``names`` order.
    """

    table: str
    dialect: str
    names: tuple[str, ...]
    convert: dict[str, Converter]
    sql: str

    def encode(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """Return the driver tuple of one row given as a dict (every name present)."""
        convert = self.convert
        return tuple([convert[name](row[name]) for name in self.names])


def placeholders(dialect: Dialect, count: int, start: int = 1) -> str:
    """Return ``count`` positional parameter markers in the driver's style, comma-separated.

    For driver-level statements (``exec_driver_sql``) executed with plain tuples.
    """
    style = dialect.paramstyle
    if style == "qmark":
        return ", ".join(["?"] * count)
    if style in ("format", "pyformat"):
        return ", ".join(["%s"] * count)
    if style == "numeric_dollar":
        return ", ".join([f"${n}" for n in range(start, start + count)])
    if style == "numeric":
        return ", ".join([f":{n}" for n in range(start, start + count)])
    raise NotImplementedError(f"bulk statements need a positional driver, not {style!r}")


def in_values(
    dialect: Dialect, column: str, values: Sequence[Any], start: int = 1
) -> tuple[str, tuple[Any, ...]]:
    """Return ``column IN (…)`` for a driver-level statement, and its parameters.

    One parameter where the database can take a list in one: PostgreSQL gets
    ``column = ANY($n)`` (an array), SQLite ``column IN (SELECT value FROM
    json_each(?))`` (a JSON array). One statement text whatever the count: the
    drivers cache prepared statements by text, and SQLite's cache of 128 with
    thousands of markers each grew an import of a million rows by 200 MB.
    ``start`` is the number of the first marker (for numbered parameter styles).
    """
    if dialect.name == "postgresql" and dialect.paramstyle == "numeric_dollar":
        return f"{column} = ANY(${start})", (list(values),)
    if dialect.name == "sqlite" and SQLITE_JSON:
        sql = f"{column} IN (SELECT value FROM json_each(?))"  # noqa: S608 - a column name
        return sql, (json.dumps(list(values)),)
    return f"{column} IN ({placeholders(dialect, len(values), start)})", tuple(values)


SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38)
"""SQLite has its JSON functions built in from 3.38 (earlier builds may lack them)."""


def max_in_values(dialect: Dialect) -> int:
    """Return how many values one :func:`in_values` list may hold on ``dialect``.

    PostgreSQL and SQLite (3.38 on) take one array parameter of any length;
    older SQLite allows 32 766 parameters from 3.32 on (999 before); MariaDB's
    drivers inline the values.
    """
    if dialect.name == "sqlite" and not SQLITE_JSON:
        return 30_000 if sqlite3.sqlite_version_info >= (3, 32) else 900
    return 50_000


def bulk_plan(table: sa.Table, dialect: Dialect, names: Sequence[str]) -> BulkPlan:
    """Return the (cached) plan for inserting ``names`` of ``table`` on ``dialect``."""
    # The parameter style too: two drivers of one database may mark parameters differently.
    key = (table.name, dialect.name, dialect.paramstyle, tuple(names))
    plan = _CACHE.get(key)
    if plan is None:
        columns = [table.c[name] for name in key[3]]
        # Executed with plain tuples in the driver's own parameter style:
        # no per-row parameter processing at all on the way to the driver.
        quote = dialect.identifier_preparer.quote
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in key[3])}) "  # noqa: S608
            f"VALUES ({placeholders(dialect, len(key[3]))})"
        )
        plan = BulkPlan(
            table=table.name,
            dialect=dialect.name,
            names=key[3],
            convert={c.name: _converter(c, dialect.name) for c in columns},
            sql=sql,
        )
        _CACHE[key] = plan
    return plan


async def insert_tuples(
    conn: AsyncConnection, plan: BulkPlan, rows: Sequence[tuple[Any, ...]], *, chunk: int = 5000
) -> None:
    """Insert converted ``rows`` (tuples in ``plan.names`` order) in the open transaction.

    PostgreSQL: binary ``COPY``; elsewhere ``executemany``.
    """
    if not rows:
        return
    if plan.dialect == "postgresql" and conn.dialect.driver == "asyncpg":
        await _copy(conn, plan, rows)
        return
    for start in range(0, len(rows), chunk):
        await conn.exec_driver_sql(plan.sql, list(rows[start : start + chunk]))


async def _copy(conn: AsyncConnection, plan: BulkPlan, rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL's binary COPY, in the connection's transaction, errors as SQLAlchemy's."""
    import asyncpg  # the postgres extra; only reached with the asyncpg driver

    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter opens its transaction at the first statement;
        # COPY bypasses the adapter, so make sure it runs inside that transaction.
        await conn.exec_driver_sql("SELECT 1")
    try:
        await driver.copy_records_to_table(plan.table, records=rows, columns=list(plan.names))
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {plan.table}", None, exc) from exc
    except asyncpg.PostgresError as exc:
        raise DBAPIError(f"COPY {plan.table}", None, exc) from exc
    except (asyncpg.InterfaceError, OSError) as exc:
        raise OperationalError(f"COPY {plan.table}", None, exc) from exc


async def insert_tuples_one_by_one(
    conn: AsyncConnection,
    plan: BulkPlan,
    rows: Sequence[tuple[Any, ...]],
    conflict_columns: Sequence[str],
) -> list[bool]:
    """Insert converted rows one at a time, skipping any a unique key already holds.

    Returns, per row, whether it was inserted. The database decides (no read
    before the write), as in :func:`mpesa_daraja_kit.db.queries.insert_ignore`:
    ``ON CONFLICT DO NOTHING`` on PostgreSQL and SQLite, a savepoint per row on
    MariaDB. The slow path, for a batch whose bulk insert met a row stored meanwhile.
    """
    done: list[bool] = []
    if plan.dialect in ("postgresql", "sqlite"):
        quote = conn.dialect.identifier_preparer.quote
        sql = f"{plan.sql} ON CONFLICT ({', '.join(quote(c) for c in conflict_columns)}) DO NOTHING"
        for row in rows:
            result = await conn.exec_driver_sql(sql, row)
            done.append(result.rowcount == 1)
        return done
    for row in rows:
        try:
            async with conn.begin_nested():
                await conn.exec_driver_sql(plan.sql, row)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            done.append(False)
        else:
            done.append(True)
    return done


async def bulk_insert(
    conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]], *, chunk: int = 5000
) -> None:
    """Insert ``rows`` (dicts, all with the same keys) into ``table``."""
    if not rows:
        return
    plan = bulk_plan(table, conn.dialect, tuple(rows[0]))
    await insert_tuples(conn, plan, [plan.encode(row) for row in rows], chunk=chunk)
