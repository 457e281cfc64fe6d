"""Small portable query helpers shared by the services."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "TRANSIENT_RETRIES",
    "insert_ignore",
    "is_transient_conflict",
    "is_unavailable_condition",
    "is_unique_violation",
    "supports_skip_locked",
    "transaction",
    "transient_pause",
]


async def insert_ignore(
    conn: AsyncConnection,
    table: sa.Table,
    values: Mapping[str, Any],
    conflict_columns: Sequence[str],
) -> bool:
    """Insert one row unless a unique constraint already holds it; tell whether it was inserted.

    The database decides (no read before the write), so concurrent callers
    racing with the same key insert exactly one row between them.
    PostgreSQL and SQLite use ``ON CONFLICT DO NOTHING``; MariaDB has no such
    clause that reports the outcome reliably (``INSERT IGNORE`` would also
    swallow truncation errors), so the insert runs in a savepoint there.
    """
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        # The statement is built once per table and key; the row goes in as parameters,
        # so no bind parameter objects are made per call (a hot path: every callback).
        result = await conn.execute(_insert_ignore(dialect, table, tuple(conflict_columns)), values)
        return bool(result.rowcount == 1)
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(table), values)
    except IntegrityError as exc:
        if is_unique_violation(exc):
            return False
        raise
    return True


@functools.lru_cache(maxsize=64)
def _insert_ignore(dialect: str, table: sa.Table, conflict_columns: tuple[str, ...]) -> Any:
    """Return ``INSERT … ON CONFLICT (conflict_columns) DO NOTHING`` for ``table``."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


@contextlib.asynccontextmanager
async def transaction(
    engine: AsyncEngine, conn: AsyncConnection | None = None
) -> AsyncIterator[AsyncConnection]:
    """Run a transaction on ``conn`` when given (no second pool check-out), else on a new one."""
    if conn is None:
        async with engine.begin() as own:
            yield own
        return
    async with conn.begin():
        yield conn


def is_unique_violation(exc: IntegrityError) -> bool:
    """Tell whether an IntegrityError is a duplicate key (not a NOT NULL or FK failure)."""
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "args", [None])[0]
    return (
        code == 1062  # MariaDB/MySQL ER_DUP_ENTRY
        or "unique" in text
        or "duplicate" in text
    )


def supports_skip_locked(conn: AsyncConnection) -> bool:
    """Tell whether ``SELECT … FOR UPDATE SKIP LOCKED`` is available (not on SQLite)."""
    return conn.dialect.name in ("postgresql", "mysql", "mariadb")


TRANSIENT_RETRIES = 5
"""Attempts at a transaction the database rolled back for a deadlock."""


async def transient_pause(attempt: int) -> None:
    """Wait a little, with jitter, before retrying after a deadlock (so both don't meet again)."""
    await asyncio.sleep(random.uniform(0.005, 0.03) * attempt)


_TRANSIENT_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
_TRANSIENT_MYSQL_CODES = {1205, 1213}  # lock wait timeout, deadlock


def is_transient_conflict(exc: BaseException) -> bool:
    """Tell whether a database error is a deadlock or serialization failure worth retrying.

    Two transactions that lock the same rows in a different order (an STK
    callback and a C2B confirmation for one receipt, say) can deadlock; the
    database rolls one back, and running that one again succeeds. On MariaDB a
    deadlock inside a savepoint ends the whole transaction, so the error seen is
    the failed ``ROLLBACK TO SAVEPOINT`` (1305) with the deadlock as its context.
    """
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if _transient(getattr(seen, "orig", None) or seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transient(orig: BaseException) -> bool:
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if args and args[0] in _TRANSIENT_MYSQL_CODES:
        return True
    text = str(orig).lower()
    return (
        "deadlock" in text
        or "could not serialize" in text
        or (bool(args) and args[0] == 1305 and "savepoint" in text)
    )


# "The database cannot take this now": connection failures, resource limits, a server
# shutting down or read-only (a failover), a full disk. A body meeting one of these
# waits (spool, sweep) and is tried again; it is never set aside as bad data.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57P", "58")
_UNAVAILABLE_SQLSTATES = {"25006", "55P03", "57014"}  # read-only, lock not available, timeout
_UNAVAILABLE_MYSQL_CODES = {
    1021,  # disk full
    1040,  # too many connections
    1053,  # server shutdown in progress
    1114,  # table is full
    1203,  # max_user_connections (account)
    1226,  # max_user_connections (resource limit)
    1290,  # --read-only
    1792,  # read-only transaction
    1836,  # read-only mode
    2002,  # cannot connect (socket)
    2003,  # cannot connect (TCP)
    2006,  # server has gone away
    2013,  # lost connection during query
    2055,  # lost connection at handshake
    4031,  # disconnected for inactivity
}


def is_unavailable_condition(exc: BaseException) -> bool:
    """Tell whether a driver error means the server cannot take work now (not bad data).

    Judged by SQLSTATE (PostgreSQL: classes 08, 53, 57P, 58 and read-only
    ``25006``) or by MariaDB/MySQL error number, through the exception's
    ``orig``, cause and context.
    """
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        orig = getattr(seen, "orig", None) or seen
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(sqlstate, str) and (
            sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
        ):
            return True
        args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
        if args and isinstance(args[0], int) and args[0] in _UNAVAILABLE_MYSQL_CODES:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
