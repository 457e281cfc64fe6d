"""Shared fixtures: the database matrix (see tests/databases.py) and the fixtures' payloads."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator
from tests.databases import (
    BACKENDS,
    ENV_VAR,
    HOW_TO_ENABLE,
    configured_servers,
    create_database,
    drop_database,
    make_engine,
)
from tests.support import HostPlugin, kit_settings, make_kit

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    """Return a Daraja fixture (tests/fixtures/daraja/<name>.json) as a dict."""
    data: dict[str, Any] = json.loads((FIXTURES / "daraja" / f"{name}.json").read_text())
    return data


def fixture_bytes(name: str) -> bytes:
    """Return a Daraja fixture's exact bytes."""
    return (FIXTURES / "daraja" / f"{name}.json").read_bytes()


TIME_SHIFT_VAR = "MPESA_TEST_TIME_SHIFT_DAYS"
"""Run the suite with this process's clock moved this many days ahead (CI: 365)."""


def pytest_configure(config: pytest.Config) -> None:
    # Proof that no test depends on today's date: wall-clock time (datetime.now,
    # time.time, ...) moves ahead in this process and its threads, ticking on; the
    # monotonic clock asyncio uses does not move. Subprocesses keep the real date,
    # so CI runs this on the fast subset, which starts none.
    days = os.environ.get(TIME_SHIFT_VAR, "").strip()
    if days:
        import time_machine

        target = datetime.now(UTC) + timedelta(days=int(days))
        traveller = time_machine.travel(target, tick=True)
        traveller.start()
        config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


_TRAVELLER = pytest.StashKey[Any]()


def pytest_report_header(config: pytest.Config) -> list[str]:
    servers = configured_servers()
    lines = [
        f"databases: sqlite only ({HOW_TO_ENABLE})"
        if not servers
        else "databases: sqlite, " + ", ".join(sorted(servers))
    ]
    if os.environ.get(TIME_SHIFT_VAR, "").strip():
        lines.append(f"clock: moved {os.environ[TIME_SHIFT_VAR]} days ahead, now {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return lines


def _require_all() -> bool:
    return os.environ.get("MPESA_TEST_REQUIRE_DATABASES", "") not in ("", "0")


@pytest.fixture(scope="session")
def database_urls(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[dict[str, str]]:
    """Create one migrated database per configured backend for this test session."""
    from mpesa_daraja_kit.db.migrate import migrate

    servers = configured_servers()
    if _require_all():
        missing = {"postgresql", "mariadb"} - set(servers)
        if missing:
            pytest.exit(
                f"{ENV_VAR} lacks {sorted(missing)} but MPESA_TEST_REQUIRE_DATABASES is set"
            )
    urls: dict[str, str] = {"sqlite": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/kit.db"}
    created = []
    label = "" if worker_id == "master" else worker_id
    for backend, server in servers.items():
        # An unreachable configured server fails the session loudly: never a silent skip.
        url = asyncio.run(create_database(server, label))
        created.append((server, url))
        urls[backend] = url.render_as_string(hide_password=False)
    for url_text in urls.values():
        asyncio.run(migrate(url_text))
    yield urls
    for server, url in created:
        asyncio.run(drop_database(server, url))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each database backend in turn (PostgreSQL/MariaDB skipped when not configured)."""
    name: str = request.param
    if name != "sqlite" and name not in configured_servers():
        pytest.skip(f"{name} not configured: {HOW_TO_ENABLE}")
    return name


@pytest.fixture
def db_url(backend: str, database_urls: dict[str, str]) -> str:
    """The URL of the session's migrated database on the current backend."""
    return database_urls[backend]


async def clear_tables(engine: AsyncEngine) -> None:
    """Delete every row of the kit's tables (children first)."""
    from mpesa_daraja_kit.db.models import metadata

    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(delete(table))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty, migrated database, for each backend in turn."""
    eng = make_engine(db_url)
    await clear_tables(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def sqlite_engine(database_urls: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    """An engine on the empty, migrated SQLite database only."""
    eng = make_engine(database_urls["sqlite"])
    await clear_tables(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """The kit's own Daraja over real HTTP; prompts settle at once, callbacks go nowhere."""
    with run_simulator(config=SimulatorConfig(callback_delay=0, allow_plain_http=True)) as running:
        yield running


@pytest.fixture
def plugin() -> HostPlugin:
    """A host plugin with two policies, an API key, and every event recorded."""
    return HostPlugin()


@pytest.fixture
async def kit(
    engine: AsyncEngine, simulator: RunningSimulator, plugin: HostPlugin
) -> AsyncIterator[MpesaKit]:
    """A kit on each database in turn, with the simulator as Daraja (no dispatcher)."""
    kit = make_kit(engine, kit_settings(simulator.base_url), plugin)
    try:
        yield kit
    finally:
        await kit.client.aclose()
