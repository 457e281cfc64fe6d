"""The fallback load generator (no wrk): ``python -m tests.bench.pyload URL KIND TAG C T SHARE``.

Posts the same bodies as the wrk script: ``T`` groups of ``C / T`` connections,
group ``t`` sending requests ``1 … SHARE`` of thread ``t``. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import httpx

from tests.bench.load import confirmation_body, stk_callback_body


def _body(kind: str, tag: str, thread: int, n: int) -> bytes:
    if kind == "confirmation":
        return json.dumps(confirmation_body(tag, thread, n)).encode()
    return stk_callback_body(tag, thread, n).encode()


async def _run(url: str, kind: str, tag: str, connections: int, threads: int, share: int) -> Any:
    latencies: list[float] = []
    ok = errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        counters = [0] * (threads + 1)

        async def worker(thread: int) -> None:
            nonlocal ok, errors
            while counters[thread] < share:
                counters[thread] += 1
                body = _body(kind, tag, thread, counters[thread])
                started = time.perf_counter()
                try:
                    response = await client.post(
                        url, content=body, headers={"Content-Type": "application/json"}
                    )
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code == 200:
                    ok += 1
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(
            *(worker(1 + c % threads) for c in range(connections)),
        )
        seconds = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "answered": len(latencies),
        "ok": ok,
        "sent": share * threads,
        "seconds": seconds,
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(latencies) * 1000,
        "errors": {"status": errors},
    }


def main(argv: list[str]) -> None:
    url, kind, tag, connections, threads, share = argv
    result = asyncio.run(_run(url, kind, tag, int(connections), int(threads), int(share)))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
