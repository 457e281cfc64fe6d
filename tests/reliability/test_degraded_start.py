"""A host started, or a worker restarted, while the database is down serves: callbacks are spooled.

Real uvicorn with two workers and its default settings; the database is cut
away behind a TCP proxy before the host starts; one worker is killed with
``kill -9`` during the outage and its replacement must serve too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import callback_log, payment_items
from tests.reliability.conftest import confirmation_bytes, via_proxy
from tests.reliability.proxy import TcpProxy
from tests.reliability.workers import Workers

pytestmark = pytest.mark.slow  # real uvicorn workers, a chaos proxy

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def confirmation(n: int) -> bytes:
    return confirmation_bytes(f"UAD{n:07d}")


async def count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def wait_for(check: object, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_host_started_during_an_outage_serves_and_catches_up(
    db_url: str, engine: AsyncEngine, proxy: TcpProxy, tmp_path: Path
) -> None:
    await proxy.stop()  # the database is unreachable before the host starts
    with Workers(via_proxy(db_url, proxy), tmp_path / "spool", workers=2) as host:
        await host.wait_serving()
        async with httpx.AsyncClient(base_url=host.url, timeout=10) as http:
            ready = await http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["reasons"][0].startswith("degraded: database unreachable since")

            async def send(numbers: range) -> None:
                for n in numbers:
                    response = await http.post(
                        "/hooks/daraja/confirmation",
                        content=confirmation(n),
                        headers={"Content-Type": "application/json"},
                    )
                    assert response.status_code == 200, response.text
                    assert response.json() == ACCEPTED

            await send(range(10))
            killed = host.kill_worker()  # dies during the outage; uvicorn starts another

            async def replaced() -> bool:
                pids = host.worker_pids()
                return killed not in pids and len(pids) == 2

            await wait_for(replaced)
            await host.wait_serving()
            await send(range(10, 20))

            await proxy.start()  # the database is back: the spool drains into it

            async def caught_up() -> bool:
                return await count(engine, payment_items) == 20

            await wait_for(caught_up)

            async def all_ready() -> bool:
                answers = [await http.get("/ready") for _ in range(6)]
                return all(a.status_code == 200 for a in answers)

            await wait_for(all_ready)
    assert await count(engine, callback_log) == 20  # each body stored once, by one worker
    async with engine.connect() as conn:
        outcomes = set((await conn.execute(sa.select(callback_log.c.outcome))).scalars())
    assert outcomes == {"APPLIED"}
