"""Bundled Alembic migrations, configured in code, touching only the kit's tables.

The kit keeps its own version table (``mpesa_daraja_kit_alembic_version``), so a
host with its own Alembic history is never disturbed: the two histories live
side by side in one database. Hosts call :func:`migrate` (or run
``mpesa-kit db upgrade --url URL``); :func:`check_schema` is the start-up check
whose error names that command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mpesa_daraja_kit.db.engine import async_url
from mpesa_daraja_kit.db.models import metadata
from mpesa_daraja_kit.errors import SchemaOutOfDate

__all__ = [
    "VERSION_TABLE",
    "alembic_config",
    "check_schema",
    "current_revision",
    "downgrade",
    "head_revision",
    "include_name",
    "include_object",
    "migrate",
    "schema_diff",
]

VERSION_TABLE = "mpesa_daraja_kit_alembic_version"
_MIGRATIONS = Path(__file__).with_name("migrations")
_T = TypeVar("_T")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Let Alembic see only the kit's tables when it reflects a shared database."""
    if type_ == "table":
        return name in metadata.tables
    return True


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Keep the host's tables (and our version table) out of comparisons."""
    if type_ == "table":
        return name in metadata.tables
    return True


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic ``Config`` for the bundled migrations (no ``alembic.ini`` needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """Return the revision the installed kit expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _engine(url_or_engine: str | AsyncEngine) -> tuple[AsyncEngine, bool]:
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine, False
    return create_async_engine(async_url(url_or_engine), poolclass=pool.NullPool), True


async def _with_connection(
    url_or_engine: str | AsyncEngine, fn: Callable[[Connection], _T], *, write: bool
) -> _T:
    engine, owned = _engine(url_or_engine)
    try:
        if write:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        if owned:
            await engine.dispose()


def _command(action: Callable[[Config], None]) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        action(cfg)

    return run


async def migrate(url_or_engine: str | AsyncEngine, revision: str = "head") -> None:
    """Upgrade the kit's tables to ``revision`` (default: the newest)."""
    await _with_connection(
        url_or_engine, _command(lambda cfg: command.upgrade(cfg, revision)), write=True
    )


async def downgrade(url_or_engine: str | AsyncEngine, revision: str) -> None:
    """Downgrade the kit's tables to ``revision`` (``base`` drops them all)."""
    await _with_connection(
        url_or_engine, _command(lambda cfg: command.downgrade(cfg, revision)), write=True
    )


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def current_revision(url_or_engine: str | AsyncEngine) -> str | None:
    """Return the revision the database is at (None when the kit's tables are absent)."""
    return await _with_connection(url_or_engine, _current, write=False)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "version_table": VERSION_TABLE,
            "include_name": include_name,
            "include_object": include_object,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, metadata))


async def schema_diff(url_or_engine: str | AsyncEngine) -> list[Any]:
    """Return Alembic's differences between the models and the database (empty = in step)."""
    return await _with_connection(url_or_engine, _diff, write=False)


async def check_schema(url_or_engine: str | AsyncEngine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at the kit's head revision."""
    current = await current_revision(url_or_engine)
    head = head_revision()
    if current != head:
        state = "has none of the kit's tables" if current is None else f"is at {current}"
        raise SchemaOutOfDate(
            f"the database {state}; the kit needs revision {head}. "
            "Run `mpesa-kit db upgrade --url <DATABASE_URL>` (or call "
            "mpesa_daraja_kit.migrate()) before starting.",
            current=current,
            head=head,
        )


def run_sync(coro: Any) -> Any:
    """Run a coroutine from synchronous code (the CLI)."""
    return asyncio.run(coro)
