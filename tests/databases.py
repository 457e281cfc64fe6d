"""The test database matrix: SQLite always, PostgreSQL and MariaDB from one variable.

``MPESA_TEST_DATABASE_URLS`` holds space- or comma-separated async URLs, e.g.::

    MPESA_TEST_DATABASE_URLS="postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        mysql+asyncmy://root@127.0.0.1:3306/test"

Each test session creates its own throw-away database on every server (so
parallel runs never collide) and drops it at the end. Without the variable
the PostgreSQL/MariaDB cases are skipped with a message saying how to enable
them; with it, an unreachable server is an error, never a skip.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

ENV_VAR = "MPESA_TEST_DATABASE_URLS"
BACKENDS = ("sqlite", "postgresql", "mariadb")
HOW_TO_ENABLE = (
    f"set {ENV_VAR}='postgresql+asyncpg://postgres@127.0.0.1:5432/test "
    "mysql+asyncmy://root@127.0.0.1:3306/test' to run the PostgreSQL/MariaDB cases"
)


def configured_servers() -> dict[str, URL]:
    """Return the server URLs from the environment, keyed by backend name."""
    servers: dict[str, URL] = {}
    for raw in re.split(r"[\s,]+", os.environ.get(ENV_VAR, "").strip()):
        if not raw:
            continue
        url = make_url(raw)
        backend = "postgresql" if url.get_backend_name() == "postgresql" else "mariadb"
        if url.get_backend_name() not in ("postgresql", "mysql", "mariadb"):
            raise ValueError(f"{ENV_VAR}: unsupported URL {raw!r}")
        servers[backend] = url
    return servers


async def _execute_admin(url: URL, statements: list[str]) -> None:
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def create_database(server: URL, label: str = "") -> URL:
    """Create a uniquely named empty database on ``server`` and return its URL."""
    name = f"mpesa_t_{label}{secrets.token_hex(4)}"
    charset = "" if server.get_backend_name() == "postgresql" else " CHARACTER SET utf8mb4"
    await _execute_admin(server, [f"CREATE DATABASE {name}{charset}"])
    return server.set(database=name)


async def drop_database(server: URL, database_url: URL) -> None:
    """Drop a database made by :func:`create_database`."""
    name = database_url.database
    assert name and name.startswith("mpesa_t_")
    if server.get_backend_name() == "postgresql":
        await _execute_admin(server, [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
    else:
        await _execute_admin(server, [f"DROP DATABASE IF EXISTS {name}"])


@asynccontextmanager
async def fresh_database(backend: str, tmp_path: os.PathLike[str] | str) -> AsyncIterator[str]:
    """Yield the URL of a new empty database on ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{os.fspath(tmp_path)}/fresh-{secrets.token_hex(4)}.db"
        return
    server = configured_servers()[backend]
    url = await create_database(server, "f")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        await drop_database(server, url)


def make_engine(url: str) -> AsyncEngine:
    """Return an engine for tests (small pool; SQLite with a busy timeout)."""
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"timeout": 30})
    return create_async_engine(url, pool_size=5, max_overflow=20)
