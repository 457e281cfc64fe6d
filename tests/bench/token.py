"""Token single flight (issue 10): 1 000 concurrent STK initiations, one OAuth request.

The kit (PostgreSQL, its database token cache, no token yet) starts
``MPESA_BENCH_INITIATIONS`` prompts at once against the simulator running in
its own process, which counts ``GET /oauth/v1/generate``. Exactly one token
request must be made; anything else fails the benchmark.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.bench.callbacks import free_port, server_process
from tests.bench.common import database, save, table
from tests.bench.server import ACCOUNTS, BenchHost

INITIATIONS = int(os.environ.get("MPESA_BENCH_INITIATIONS", "1000"))


async def _initiate_all(db_url: str, sim_url: str) -> dict[str, Any]:
    from mpesa_daraja_kit.config import Settings
    from mpesa_daraja_kit.kit import MpesaKit

    settings = Settings.for_simulator(
        base_url=sim_url, callback_base_url="http://127.0.0.1:9/hooks", reconcile_enabled=False
    )
    kit = MpesaKit(settings, database_url=db_url, plugins=[BenchHost()], deliver_events=False)
    try:
        phones = [f"2547{n:08d}" for n in range(20_000_000, 20_000_000 + INITIATIONS)]
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                kit.stk.initiate(phone, 100, ACCOUNTS[i % len(ACCOUNTS)], "Premium")
                for i, phone in enumerate(phones)
            ),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - started
    finally:
        await kit.aclose()
    failures = [r for r in results if isinstance(r, BaseException)]
    async with httpx.AsyncClient() as client:
        count = (await client.get(f"{sim_url}/bench/oauth-count")).json()["oauth_requests"]
    return {
        "initiations": INITIATIONS,
        "accepted": len(results) - len(failures),
        "failed": len(failures),
        "first_failures": sorted({f"{type(f).__name__}: {f}"[:200] for f in failures})[:5],
        "seconds": seconds,
        "oauth_requests": count,
    }


def run() -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, "-m", "tests.bench.simserver", "--port", str(port)]
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        database("postgresql", Path(tmp_name)) as db_url,
        server_process(command, port, "simulator") as sim_url,
    ):
        result = asyncio.run(_initiate_all(db_url, sim_url))
    print(
        table(
            f"Token single flight: {INITIATIONS:,} concurrent STK initiations, simulator in "
            "its own process, PostgreSQL token cache",
            ["initiations", "accepted", "failed", "seconds", "OAuth requests", "target"],
            [
                [
                    result["initiations"],
                    result["accepted"],
                    result["failed"],
                    result["seconds"],
                    result["oauth_requests"],
                    "1: met" if result["oauth_requests"] == 1 else "1: MISSED",
                ]
            ],
        )
    )
    if result["first_failures"]:
        print("failures:", *result["first_failures"], sep="\n  ")
    path = save("token", result)
    print(f"\nwritten to {path}")
    if result["oauth_requests"] != 1:
        raise SystemExit(f"token single flight failed: {result['oauth_requests']} OAuth requests")
    return result
