"""The chaos run: three uvicorn workers, the database cut twice, one worker killed with ``kill -9``.

Distinct confirmations are sent as Safaricom would (16 at a time, never
retried). Every one answered Accepted must end recorded exactly once —
whether it was stored directly, spooled during a cut, or interrupted half-way
and swept — and no body may be stored twice. The figures are printed (and
quoted in docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import callback_log, event_outbox, payment_items
from tests.conftest import load_fixture
from tests.reliability.conftest import via_proxy
from tests.reliability.proxy import TcpProxy
from tests.reliability.workers import Workers

pytestmark = pytest.mark.slow  # a few minutes of real traffic

CONFIRMATIONS = 3000
CONCURRENCY = 16
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def receipt(n: int) -> str:
    return f"UCH{n:07d}"


def confirmation(n: int) -> bytes:
    body = load_fixture("c2b_confirmation_hashed_msisdn")
    body["TransID"] = receipt(n)
    return json.dumps(body).encode()


async def scalar(engine: AsyncEngine, stmt: sa.Select[Any]) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(stmt) or 0)


async def test_chaos_run_loses_nothing_and_doubles_nothing(
    db_url: str, backend: str, engine: AsyncEngine, proxy: TcpProxy, tmp_path: Path
) -> None:
    answered: set[int] = set()
    unanswered: set[int] = set()
    chaos: list[str] = []
    started = time.monotonic()

    def at() -> str:
        return f"{time.monotonic() - started:5.1f} s"

    with Workers(via_proxy(db_url, proxy), tmp_path / "spool", workers=3) as host:
        await host.wait_serving()
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=host.url, timeout=30, limits=limits) as http:
            slots = asyncio.Semaphore(CONCURRENCY)
            milestones = (CONFIRMATIONS // 5, CONFIRMATIONS // 2, CONFIRMATIONS * 7 // 10)
            reached = {after: asyncio.Event() for after in milestones}

            async def send(n: int) -> None:
                async with slots:
                    try:
                        response = await http.post(
                            "/hooks/daraja/confirmation",
                            content=confirmation(n),
                            headers={"Content-Type": "application/json"},
                        )
                    except httpx.HTTPError:
                        unanswered.add(n)  # the worker died mid-request: Safaricom saw no answer
                        return
                    if response.status_code == 200 and response.json() == ACCEPTED:
                        answered.add(n)
                        for after, event in reached.items():
                            if len(answered) >= after:
                                event.set()
                    else:
                        unanswered.add(n)

            async def cut(after: int, seconds: float) -> None:
                await reached[after].wait()
                await proxy.stop()
                chaos.append(f"{at()}: database cut after {len(answered)} answers")
                await asyncio.sleep(seconds)
                await proxy.start()
                chaos.append(f"{at()}: database back")

            async def kill(after: int) -> None:
                await reached[after].wait()
                pid = host.kill_worker()
                chaos.append(f"{at()}: worker {pid} killed with -9 after {len(answered)} answers")

            faults = asyncio.gather(
                cut(milestones[0], 3.0), kill(milestones[1]), cut(milestones[2], 3.0)
            )
            await asyncio.gather(*(send(n) for n in range(CONFIRMATIONS)))
            sent_in = time.monotonic() - started
            await faults

            # The spool drains and the sweep settles interrupted bodies (MPESA_CALLBACK_SWEEP_AFTER=2).
            wanted = [receipt(n) for n in answered]
            stored_stmt = (
                sa.select(sa.func.count())
                .select_from(payment_items)
                .where(payment_items.c.transaction_reference.in_(wanted))
            )
            deadline = time.monotonic() + 90
            while await scalar(engine, stored_stmt) < len(answered):
                assert time.monotonic() < deadline, "answered confirmations never recorded"
                await asyncio.sleep(0.5)
            unsettled_stmt = (
                sa.select(sa.func.count())
                .select_from(callback_log)
                .where(callback_log.c.outcome.in_(["RECEIVED", "FAILED", "WAITING"]))
            )
            while await scalar(engine, unsettled_stmt):
                assert time.monotonic() < deadline, "bodies left unsettled"
                await asyncio.sleep(0.5)
            settled_in = time.monotonic() - started

    async with engine.connect() as conn:
        payments = (await conn.execute(sa.select(payment_items.c.transaction_reference))).scalars()
        recorded = list(payments)
        bodies = (
            await conn.execute(
                sa.select(callback_log.c.raw_body).where(callback_log.c.kind == "C2B_CONFIRMATION")
            )
        ).scalars()
        logged = [json.loads(b)["TransID"] for b in bodies]
        events = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(event_outbox)
            .where(event_outbox.c.event_type == "mpesa_payment_recorded")
        )
    lost = {receipt(n) for n in answered} - set(recorded)
    duplicated_rows = len(recorded) - len(set(recorded))
    duplicated_bodies = len(logged) - len(set(logged))
    unanswered_stored = len({receipt(n) for n in unanswered} & set(recorded))
    print(
        f"\nchaos run on {backend}: 3 workers, {CONFIRMATIONS} distinct confirmations "
        f"({CONCURRENCY} at a time), sent in {sent_in:.1f} s, all settled at {settled_in:.1f} s"
    )
    for line in chaos:
        print(f"  {line}")
    print(
        f"  answered Accepted {len(answered)}, unanswered {len(unanswered)} "
        f"(of which recorded {unanswered_stored}); recorded {len(set(recorded))}; "
        f"lost {len(lost)}; duplicated payments {duplicated_rows}, "
        f"bodies stored twice {duplicated_bodies}; payment events {events}"
    )
    assert len(chaos) == 5  # two cuts (down, back) and one kill happened during the run
    assert not lost
    assert duplicated_rows == 0
    assert duplicated_bodies == 0
    assert events == len(set(recorded))
    assert len(answered) + len(unanswered) == CONFIRMATIONS
