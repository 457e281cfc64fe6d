""" "The database cannot take this now" is unavailability, not bad data: spooled bodies wait.

PostgreSQL's "too many connections", a read-only server after a failover and
MariaDB's connection limits reach SQLAlchemy as plain ``DBAPIError``s. Each is
staged here for real (a role with no connections left, a read-only session),
never by stopping the shared servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.engine import create_kit_engine
from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback, is_database_unavailable
from mpesa_daraja_kit.services.spool import CallbackSpool
from tests.reliability.conftest import confirmation_bytes
from tests.support import HostPlugin, kit_settings

ROLE = "mpesa_kit_no_connections"


def confirmation(n: int) -> bytes:
    return confirmation_bytes(f"UAV{n:07d}")


@pytest.fixture
async def limited_url(db_url: str, engine: AsyncEngine, server_backend: str) -> str:
    """A URL whose user the server turns away: no connections left for it."""
    url = make_url(db_url)
    async with engine.begin() as conn:
        if server_backend == "postgresql":
            exists = await conn.scalar(sa.text(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'"))
            if not exists:
                await conn.execute(sa.text(f"CREATE ROLE {ROLE} LOGIN CONNECTION LIMIT 0"))
        else:
            await conn.execute(
                sa.text(
                    f"CREATE USER IF NOT EXISTS '{ROLE}'@'%' IDENTIFIED BY '' "
                    "WITH MAX_USER_CONNECTIONS 1"
                )
            )
            await conn.execute(sa.text(f"GRANT ALL ON {url.database}.* TO '{ROLE}'@'%'"))
    return url.set(username=ROLE, password=None).render_as_string(hide_password=False)


@pytest.fixture
async def held(limited_url: str, server_backend: str) -> AsyncIterator[None]:
    """On MariaDB the limit is one connection: hold it, so the kit gets none."""
    if server_backend == "postgresql":
        yield
        return
    holder = create_kit_engine(limited_url)
    async with holder.connect():
        yield
    await holder.dispose()


def _spooled(tmp_path: Path) -> CallbackSpool:
    spool = CallbackSpool(tmp_path / "spool")
    spool.append(IncomingCallback(kind=CallbackKind.C2B_CONFIRMATION, body=confirmation(1)))
    return spool


async def _replay_with(engine_url: str, tmp_path: Path, **engine_kwargs: Any) -> Any:
    spool_dir = tmp_path / "spool"
    settings = kit_settings("http://127.0.0.1:9", spool_dir=str(spool_dir))
    kit = MpesaKit(
        settings,
        engine=create_kit_engine(engine_url, **engine_kwargs),
        plugins=[HostPlugin()],
    )
    try:
        return await kit.replay_spool()
    finally:
        await kit.aclose()
        await kit.engine.dispose()


async def test_no_connections_left_is_unavailability(
    limited_url: str, held: None, tmp_path: Path
) -> None:
    probe = create_kit_engine(limited_url)
    with pytest.raises(sa.exc.DBAPIError) as caught:
        async with probe.connect():
            pass
    await probe.dispose()
    assert is_database_unavailable(caught.value), repr(caught.value)

    spool = _spooled(tmp_path)
    replay = await _replay_with(limited_url, tmp_path)
    assert (replay.stored, replay.quarantined, replay.remaining) == (0, 0, 1)
    assert len(spool) == 1 and not list((tmp_path / "spool").glob("*.bad"))


async def test_a_read_only_server_is_unavailability(
    db_url: str, engine: AsyncEngine, server_backend: str, tmp_path: Path
) -> None:
    # What a client sees when a failover leaves it on a read-only replica.
    if server_backend == "postgresql":
        kwargs: dict[str, Any] = {
            "connect_args": {"server_settings": {"default_transaction_read_only": "on"}}
        }
    else:
        kwargs = {"connect_args": {"init_command": "SET SESSION TRANSACTION READ ONLY"}}
    spool = _spooled(tmp_path)
    replay = await _replay_with(db_url, tmp_path, **kwargs)
    assert (replay.stored, replay.quarantined, replay.remaining) == (0, 0, 1)
    assert len(spool) == 1
    # And when the server takes writes again, the body is stored and applied.
    again = await _replay_with(db_url, tmp_path)
    assert (again.stored, again.remaining) == (1, 0)


def test_data_errors_stay_data_errors() -> None:
    class Orig(Exception):
        sqlstate = "22P02"

    error = sa.exc.DBAPIError("INSERT …", {}, Orig("invalid input syntax"))
    assert not is_database_unavailable(error)


def test_a_value_the_driver_refuses_is_a_data_error_and_a_deadlock_waits() -> None:
    refused = sa.exc.InterfaceError("INSERT …", {}, ValueError("invalid input for $1"))
    assert not is_database_unavailable(refused)
    lost = sa.exc.InterfaceError("INSERT …", {}, Exception("connection closed"))
    assert is_database_unavailable(lost)

    class Deadlock(Exception):
        sqlstate = "40P01"

    class StatementTimeout(Exception):
        sqlstate = "57014"

    # Outlasting its retries, a deadlock or a statement time-out is tried again later.
    assert is_database_unavailable(sa.exc.DBAPIError("UPDATE …", {}, Deadlock("deadlock")))
    assert is_database_unavailable(sa.exc.DBAPIError("UPDATE …", {}, StatementTimeout("t")))


async def test_a_database_without_the_kits_tables_keeps_the_spool(
    db_url: str, engine: AsyncEngine, server_backend: str, tmp_path: Path
) -> None:
    # Back after an outage but not migrated yet (a degraded start with the schema behind):
    # the bodies wait for the tables, none is set aside as bad data.
    if server_backend == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS mpesa_kit_empty"))
        kwargs: dict[str, Any] = {
            "connect_args": {"server_settings": {"search_path": "mpesa_kit_empty"}}
        }
        url = db_url
    else:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE DATABASE IF NOT EXISTS mpesa_kit_empty"))
        url = make_url(db_url).set(database="mpesa_kit_empty").render_as_string(False)
        kwargs = {}
    spool = _spooled(tmp_path)
    replay = await _replay_with(url, tmp_path, **kwargs)
    assert (replay.stored, replay.quarantined, replay.remaining) == (0, 0, 1)
    assert len(spool) == 1
