"""A burst of initiations never yields a 500, never loses a push, never leaves a request unsettleable.

1 000 concurrent ``POST /stk-push/initiate`` against real uvicorn (one worker,
its defaults) on a server database, the kit's simulator as Daraja.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import stk_requests
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator
from tests.reliability.workers import API_KEY, Workers

pytestmark = pytest.mark.slow  # a thousand real requests

BURST = 1000


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with run_simulator(config=SimulatorConfig(callback_delay=0, allow_plain_http=True)) as sim:
        yield sim


async def test_a_burst_of_initiations_is_served_or_refused_before_sending(
    db_url: str,
    engine: AsyncEngine,
    backend: str,
    simulator: RunningSimulator,
    tmp_path: Path,
) -> None:
    if backend == "sqlite":
        pytest.skip("the burst is about a server database's connection pool")
    host = Workers(
        db_url,
        tmp_path / "spool",
        workers=1,
        MPESA_BASE_URL=simulator.base_url,
        MPESA_STK_RATE_PHONE_LIMIT="0",
        MPESA_STK_RATE_PRINCIPAL_LIMIT="0",
    )
    host.environ["MPESA_CALLBACK_BASE_URL"] = f"{host.url}/hooks/daraja"
    earlier = set(simulator.simulator.store.transactions)
    with host:
        await host.wait_serving()
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
        async with httpx.AsyncClient(base_url=host.url, timeout=120, limits=limits) as http:

            async def initiate(n: int) -> httpx.Response:
                return await http.post(
                    "/api/mpesa/stk-push/initiate",
                    json={
                        "phoneNumber": f"2547{n:08d}",
                        "amount": 10,
                        "accountReference": f"POL{n:07d}",
                    },
                    headers={"X-API-Key": API_KEY},
                )

            responses = await asyncio.gather(*(initiate(n) for n in range(BURST)))
    answers = Counter(
        (r.status_code, r.json().get("error", {}).get("code") if r.status_code >= 400 else None)
        for r in responses
    )
    print(f"\nburst of {BURST} initiations: {dict(answers)}")
    assert all(r.headers["content-type"].startswith("application/json") for r in responses)
    assert set(answers) <= {(201, None), (202, None), (503, "overloaded")}, answers
    refused = answers[(503, "overloaded")]
    assert all(r.headers.get("Retry-After") for r in responses if r.status_code == 503)

    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(stk_requests))).all()
    # Refused before anything was done: no row, no push.
    assert len(rows) == BURST - refused
    unsettleable = [
        r
        for r in rows
        if r.status == "PENDING" and not r.checkout_request_id and not r.outcome_unknown
    ]
    assert not unsettleable
    pushes = set(simulator.simulator.store.transactions) - earlier
    stored = {r.checkout_request_id for r in rows if r.checkout_request_id}
    print(f"request rows {len(rows)}, refused {refused}, pushes seen by Daraja {len(pushes)}")
    # Every push that left is stored with its CheckoutRequestID, or marked outcome-unknown.
    unknown = sum(1 for r in rows if r.outcome_unknown)
    assert len(pushes - stored) <= unknown
