"""The health app: liveness always answers; readiness says ok, or degraded and why, in time."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.migrate import head_revision
from mpesa_daraja_kit.db.models import OutboxStatus, event_outbox
from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from tests.support import HostPlugin, kit_settings, make_kit

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _kit(engine: AsyncEngine, clock: FakeClock, **settings: Any) -> MpesaKit:
    return make_kit(
        engine, kit_settings("http://127.0.0.1:9", **settings), HostPlugin(), clock=clock
    )


@pytest.fixture
async def kit(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[MpesaKit]:
    kit = _kit(engine, clock)
    yield kit
    await kit.client.aclose()


async def probe(kit: MpesaKit, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=kit.health_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
        return await client.get(path)


async def ready(kit: MpesaKit) -> tuple[int, dict[str, Any]]:
    response = await probe(kit, "/ready")
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


def confirmation() -> IncomingCallback:
    return IncomingCallback(kind=CallbackKind.C2B_CONFIRMATION, body=b'{"TransID": "UAD0000001"}')


async def test_a_healthy_kit_is_ready(kit: MpesaKit) -> None:
    live = await probe(kit, "/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    status, body = await ready(kit)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["reasons"] == []
    checks = body["checks"]
    assert set(checks) == {"database", "kit", "spool", "callbacks", "outbox", "reconciler"}
    assert all(check["ok"] for check in checks.values()), checks
    assert checks["database"]["revision"] == checks["database"]["head_revision"] == head_revision()
    assert checks["spool"]["files"] == 0
    assert checks["callbacks"]["not_settled_older"] == 0
    assert (checks["outbox"]["pending_older"], checks["outbox"]["dead"]) == (0, 0)
    assert checks["reconciler"] == {
        "ok": True,
        "enabled": True,
        "running": False,
        "last_run_at": None,
        "last_run_age_seconds": None,
        "max_age_seconds": 900.0,
    }


async def test_a_stale_received_callback_makes_it_degraded(kit: MpesaKit, clock: FakeClock) -> None:
    await kit.callbacks.store(confirmation())  # RECEIVED: its processing never ran
    status, _ = await ready(kit)
    assert status == 200  # fresh: the sweep has not had its chance yet
    clock.advance(301)
    status, body = await ready(kit)
    assert status == 503
    assert body["status"] == "degraded"
    assert body["checks"]["callbacks"] == {
        "ok": False,
        "not_settled_older": 1,
        "older_than_seconds": 300.0,
    }
    (reason,) = body["reasons"]
    assert reason.startswith("degraded because 1 stored callbacks are still RECEIVED, FAILED")
    assert (await probe(kit, "/live")).status_code == 200


async def test_a_dead_event_makes_it_degraded(kit: MpesaKit, clock: FakeClock) -> None:
    async with kit.engine.begin() as conn:
        await conn.execute(
            sa.insert(event_outbox).values(
                id=uuid.uuid4(),
                event_type="mpesa_payment_recorded",
                dedupe_key="health-dead",
                payload={},
                status=OutboxStatus.DEAD,
                attempts=10,
                next_attempt_at=clock(),
                created_at=clock(),
            )
        )
    status, body = await ready(kit)
    assert status == 503
    assert body["checks"]["outbox"]["dead"] == 1
    assert body["checks"]["outbox"]["ok"] is False
    assert body["reasons"] == [
        "degraded because 1 events are dead letters (DEAD; `mpesa-kit events list --dead`)"
    ]


async def test_a_full_or_old_spool_makes_it_degraded(engine: AsyncEngine, clock: FakeClock) -> None:
    kit = _kit(engine, clock, health_spool_max_files=1)
    try:
        assert kit.spool is not None
        kit.spool.spool.append(confirmation())
        status, body = await ready(kit)
        assert status == 200, body
        assert body["checks"]["spool"]["files"] == 1
        assert body["checks"]["spool"]["oldest_age_seconds"] == 0

        kit.spool.spool.append(confirmation())
        status, body = await ready(kit)
        assert status == 503
        assert body["reasons"] == ["degraded because 2 callbacks are spooled (more than 1)"]

        clock.advance(121)
        status, body = await ready(kit)
        assert status == 503
        assert body["checks"]["spool"]["oldest_age_seconds"] == 121
        assert body["reasons"][1] == (
            "degraded because the oldest spooled callback has waited 121 s (more than 120 s)"
        )
    finally:
        await kit.client.aclose()


async def test_a_reconciler_whose_last_pass_is_old_makes_it_degraded(
    sqlite_engine: AsyncEngine, clock: FakeClock
) -> None:
    kit = _kit(sqlite_engine, clock)
    kit.reconcile.start()
    try:
        await kit.reconcile.run_once()  # the loop's first pass may still be under way
        status, body = await ready(kit)
        assert status == 200, body
        assert body["checks"]["reconciler"]["running"] is True
        assert body["checks"]["reconciler"]["last_run_at"] == START.isoformat()

        clock.advance(901)
        status, body = await ready(kit)
        assert status == 503
        assert body["checks"]["reconciler"]["last_run_age_seconds"] == 901
        assert body["reasons"] == [
            "degraded because the reconciler last finished a pass 901 s ago (more than 900 s)"
        ]
    finally:
        await kit.reconcile.stop()
        await kit.client.aclose()


@pytest.fixture
def unreachable_url() -> str:
    return "postgresql+asyncpg://postgres@127.0.0.1:9/test"  # nothing listens on port 9


async def _assert_unreachable(kit: MpesaKit, *, within: float) -> dict[str, Any]:
    started = time.monotonic()
    status, body = await ready(kit)
    assert time.monotonic() - started < within
    assert status == 503
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["callbacks"]["ok"] is None  # unknown, not zero
    assert body["checks"]["outbox"]["dead"] is None
    live = await probe(kit, "/live")
    assert live.status_code == 200
    return body


async def test_an_unreachable_database_answers_degraded_at_once(unreachable_url: str) -> None:
    kit = MpesaKit(kit_settings("http://127.0.0.1:9"), database_url=unreachable_url)
    try:
        body = await _assert_unreachable(kit, within=2.5)
        assert body["reasons"][0].startswith("degraded because the database is unreachable (")
        assert "postgres@" not in str(body)
    finally:
        await kit.aclose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word (a database that hangs)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def test_a_hanging_database_answers_degraded_within_the_timeout(silent_port: int) -> None:
    kit = MpesaKit(
        kit_settings("http://127.0.0.1:9", health_database_timeout=0.5),
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/test",
    )
    try:
        body = await _assert_unreachable(kit, within=2.0)
        assert body["reasons"][0] == "degraded because the database did not answer within 0.5 s"
        assert body["checks"]["database"]["error"] == "timeout"
    finally:
        await kit.aclose()


async def test_a_degraded_start_is_a_reason(sqlite_engine: AsyncEngine, clock: FakeClock) -> None:
    kit = _kit(sqlite_engine, clock)
    try:
        kit._unreachable_since = START  # what lifespan() records when the database was down
        status, body = await ready(kit)
        assert status == 503
        assert body["checks"]["kit"] == {"ok": False}
        assert body["reasons"] == [
            "degraded because database unreachable since 2026-03-01T09:00:00+00:00; "
            "0 callbacks spooled"
        ]
    finally:
        await kit.client.aclose()


async def test_a_database_without_the_kits_tables_says_what_to_run(tmp_path: Path) -> None:
    kit = MpesaKit(
        kit_settings("http://127.0.0.1:9"), database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    )
    try:
        status, body = await ready(kit)
        assert status == 503
        assert body["checks"]["database"]["revision"] is None
        assert body["checks"]["callbacks"]["ok"] is None  # not counted in a database without them
        assert body["reasons"] == [
            f"degraded because the database has none of the kit's tables; the kit needs "
            f"{head_revision()} (run `mpesa-kit db upgrade`)"
        ]
    finally:
        await kit.aclose()
