"""Building the kit's async engine with settings that suit each database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["SQLITE_CACHE_KIB", "create_kit_engine"]

SQLITE_CACHE_KIB = 64 * 1024
"""The page cache of each SQLite connection, in KiB."""


def create_kit_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Return an async engine for ``url``.

    SQLite gets WAL journaling, a 30 s busy timeout and foreign keys (so
    concurrent callbacks wait for the write lock instead of failing) and a
    64 MiB page cache;
    servers get pre-ping so a restarted database is noticed on the next use.
    """
    parsed = make_url(url)
    # Database errors never carry the statement's parameters (phone numbers, names)
    # into exceptions, logs or the callback log's error messages.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)
        in_memory = parsed.database in (None, "", ":memory:")

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            # SQLite's default 2 MiB page cache thrashes once the payment table's indexes
            # outgrow it (a statement import writes into eleven of them); 64 MiB is a cap,
            # taken only as pages are read.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # Fail fast when the server is unreachable: a callback waiting a minute for a
    # connection is worse than one spooled to disk at once (services/spool.py).
    kwargs.setdefault("pool_timeout", 10)
    connect_args = kwargs.setdefault("connect_args", {})
    if parsed.get_backend_name() == "postgresql":
        connect_args.setdefault("timeout", 5)
    else:
        connect_args.setdefault("connect_timeout", 5)
    return create_async_engine(url, **kwargs)
