"""Building the kit's async engine with settings that suit each database."""

from __future__ import annotations

import importlib.util
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mpesa_daraja_kit.errors import ConfigError

__all__ = ["SQLITE_CACHE_KIB", "async_url", "create_kit_engine"]

_PLAIN_TO_ASYNC = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "sqlite": "sqlite+aiosqlite",
}
# async driver -> (module to import, the kit's extra that installs it)
_ASYNC_DRIVERS = {
    "postgresql+asyncpg": ("asyncpg", "postgres"),
    "mysql+asyncmy": ("asyncmy", "mysql"),
    "mariadb+asyncmy": ("asyncmy", "mysql"),
    "sqlite+aiosqlite": ("aiosqlite", ""),
}

SQLITE_CACHE_KIB = 64 * 1024
"""The page cache of each SQLite connection, in KiB."""


def async_url(url: str) -> str:
    """Return ``url`` with the kit's async driver (``postgresql://`` -> ``postgresql+asyncpg://``).

    Plain ``postgresql://``, ``postgres://``, ``mysql://``, ``mariadb://`` and
    ``sqlite:///`` URLs get ``+asyncpg``, ``+asyncmy`` and ``+aiosqlite``; URLs
    naming one of those drivers are kept.

    Raises:
        ConfigError: not a URL, a driver the kit does not support, or a driver
            whose module is not installed (naming the extra to install).
    """
    shown = url
    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
    except ArgumentError:
        raise ConfigError(
            f"{url!r} is not a database URL; expected e.g. sqlite:///kit.db or "
            "postgresql://user@host/dbname"
        ) from None
    name = parsed.drivername.lower()
    name = _PLAIN_TO_ASYNC.get(name, name)
    if name not in _ASYNC_DRIVERS:
        raise ConfigError(
            f"unsupported database driver {parsed.drivername!r} in {shown}; use postgresql://, "
            "mysql://, mariadb:// or sqlite:/// (or their +asyncpg, +asyncmy, +aiosqlite forms)"
        )
    module, extra = _ASYNC_DRIVERS[name]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"the database driver {module} for {shown} is not installed; "
            f"run: pip install 'mpesa_daraja_kit[{extra}]'"
        )
    return parsed.set(drivername=name).render_as_string(hide_password=False)


def create_kit_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Return an async engine for ``url``.

    SQLite gets WAL journaling, a 30 s busy timeout and foreign keys (so
    concurrent callbacks wait for the write lock instead of failing) and a
    64 MiB page cache;
    servers get pre-ping so a restarted database is noticed on the next use.
    Plain URLs get the kit's async driver (:func:`async_url`).
    """
    url = async_url(url)
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
