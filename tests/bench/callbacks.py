"""Callback throughput and latency: the kit's public app against a bare Starlette endpoint.

Shared by the ``confirmations`` and ``stk_callbacks`` benchmarks. For each
database (SQLite, PostgreSQL) the kit's public app is served by uvicorn (one
worker, :func:`tests.bench.server.uvicorn_options`) in its own process and
loaded at 1, 16 and 64 concurrent connections with a fixed number of distinct
callbacks; the bare endpoint gets the same load on the same server settings in
the same run. Afterwards every run is checked in the database: each body the
kit received is one stored payment (or one settled request) and one event —
nothing lost, nothing doubled. A run that loses data fails the benchmark.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.bench.common import database, save, table
from tests.bench.load import checkout_id, generator, run_load, threads_for

LEVELS = [int(c) for c in os.environ.get("MPESA_BENCH_CONNECTIONS", "1,16,64").split(",")]
REQUESTS = int(os.environ.get("MPESA_BENCH_REQUESTS", "2000"))
WARMUP = int(os.environ.get("MPESA_BENCH_WARMUP", "300"))
BACKENDS = os.environ.get("MPESA_BENCH_BACKENDS", "sqlite,postgresql").split(",")


class DataLoss(AssertionError):
    """A benchmark run lost or doubled data."""


def free_port() -> int:
    """Return a TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server_process(command: list[str], port: int, what: str = "server") -> Iterator[str]:
    """Run ``command`` (a server on ``port``) and yield its base URL once it accepts."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the {what} exited:\n{log.read().decode()[-4000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {what} did not start on port {port}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        tail = log.read().decode(errors="replace")
        log.close()
        if "Traceback" in tail:
            print(f"[{what} log]\n{tail[-3000:]}", file=sys.stderr)


@contextmanager
def server(which: str, database_url: str = "") -> Iterator[str]:
    """Run ``python -m tests.bench.server which`` and yield its base URL once it accepts."""
    port = free_port()
    command = [sys.executable, "-m", "tests.bench.server", which, "--port", str(port)]
    if database_url:
        command += ["--database-url", database_url]
    with server_process(command, port, f"{which} server") as url:
        yield url


# -- checking the stored data -----------------------------------------------------------


async def _scalars(url: str, queries: dict[str, str], params: dict[str, Any]) -> dict[str, int]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return {
                key: int(await conn.scalar(sa.text(sql), params) or 0)
                for key, sql in queries.items()
            }
    finally:
        await engine.dispose()


def _settle(
    url: str, kind: str, since_id: int, queries: dict[str, str], tag: str
) -> dict[str, int]:
    """Wait until the kit has processed everything it received, then count."""
    mine = "reference LIKE :co" if kind == "STK_CALLBACK" else "reference LIKE :like"
    queries = {
        # A body the kit received in this run: its reference (receipt or CheckoutRequestID)
        # carries the run's tag once processed; a straggler of an earlier run does not.
        "received": "SELECT count(*) FROM mpesa_callback_log "
        f"WHERE kind = :kind AND id > :since AND {mine}",
        "unprocessed": "SELECT count(*) FROM mpesa_callback_log "
        "WHERE kind = :kind AND id > :since AND outcome = 'RECEIVED'",
        "failed": "SELECT count(*) FROM mpesa_callback_log "
        f"WHERE kind = :kind AND id > :since AND (reference IS NULL OR {mine}) "
        "AND outcome <> 'APPLIED'",
        "events_pending": "SELECT count(*) FROM mpesa_event_outbox WHERE status = 'PENDING'",
        **queries,
    }
    params = {"kind": kind, "since": since_id, "like": f"{tag}%", "co": f"ws_CO_{tag}%"}
    deadline = time.monotonic() + 120
    last: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = asyncio.run(_scalars(url, queries, params))
        if counts == last and not counts["unprocessed"] and not counts["events_pending"]:
            return counts
        last = counts
        time.sleep(0.5)
    return last


def max_log_id(url: str) -> int:
    """Return the newest callback log id (runs are told apart by it)."""
    sql = {"id": "SELECT coalesce(max(id), 0) FROM mpesa_callback_log"}
    return asyncio.run(_scalars(url, sql, {}))["id"]


CONFIRMATION_CHECKS = {
    "rows": "SELECT count(*) FROM mpesa_payment_report_items WHERE transaction_reference LIKE :like",
    "distinct": "SELECT count(DISTINCT transaction_reference) FROM mpesa_payment_report_items "
    "WHERE transaction_reference LIKE :like",
    "events": "SELECT count(*) FROM mpesa_event_outbox "
    "WHERE dedupe_key LIKE 'payment_recorded:' || :like",
}

STK_CHECKS = {
    "rows": "SELECT count(*) FROM mpesa_stk_push_requests "
    "WHERE checkout_request_id LIKE :co AND status = 'COMPLETED'",
    "distinct": "SELECT count(DISTINCT transaction_reference) FROM mpesa_payment_report_items "
    "WHERE transaction_reference LIKE :like AND source = 'STK_CALLBACK'",
    "events": "SELECT count(*) FROM mpesa_event_outbox "
    "WHERE dedupe_key LIKE 'payment_recorded:' || :like",
}


def verify(counts: dict[str, int], answered_ok: int, sent: int) -> dict[str, int]:
    """Return lost/duplicated figures; raise :class:`DataLoss` when either is not zero."""
    rows = counts["rows"]
    lost = max(0, answered_ok - rows) + (
        counts["received"] - rows if counts["received"] > rows else 0
    )
    duplicated = max(0, rows - counts["distinct"]) + max(0, counts["events"] - counts["distinct"])
    figures = {
        "stored": rows,
        "received": counts["received"],
        "not_applied": counts["failed"],
        "lost": lost,
        "duplicated": duplicated,
    }
    if lost or duplicated or counts["failed"] or rows > sent or counts["events"] != rows:
        raise DataLoss(f"the kit lost or doubled data: {figures} (answered 200: {answered_ok})")
    return figures


# -- the benchmark ------------------------------------------------------------------------


Prepare = Callable[[str, str, int, int], None]


def _tag(index: int) -> str:
    return "Q" + "ABCDEFGHJKLMNPRSTUVWXYZ"[index % 23] + "ABCDEFGHJKLMNPRSTUVWXYZ"[index // 23 % 23]


def run_kind(
    kind: str, callback_kind: str, checks: dict[str, str], prepare: Prepare | None, title: str
) -> dict[str, Any]:
    """Benchmark one callback kind on every backend and the bare endpoint; print and save."""
    results: dict[str, Any] = {
        "generator": generator(),
        "requests": REQUESTS,
        "levels": LEVELS,
        "kit": {},
        "bare": {},
    }
    with server("bare") as url:
        run_load(url, kind, "QWW", 16, WARMUP)
        for connections in LEVELS:
            results["bare"][str(connections)] = run_load(url, kind, "QBB", connections, REQUESTS)
    serial = 0
    with tempfile.TemporaryDirectory() as tmp_name:
        for backend in BACKENDS:
            with database(backend, Path(tmp_name)) as db_url:
                runs: dict[str, Any] = {}
                with server("kit", db_url) as url:
                    for label, connections, count in [("warmup", 16, WARMUP)] + [
                        (str(c), c, REQUESTS) for c in LEVELS
                    ]:
                        serial += 1
                        tag = _tag(serial)
                        if prepare is not None:
                            prepare(db_url, tag, threads_for(connections), count + connections)
                        since = max_log_id(db_url)
                        load = run_load(url, kind, tag, connections, count)
                        counts = _settle(db_url, callback_kind, since, checks, tag)
                        load["check"] = verify(counts, load["ok"], load["sent"])
                        if label != "warmup":
                            runs[label] = load
                results["kit"][backend] = runs
    rows = []
    for backend, runs in results["kit"].items():
        for label, run in runs.items():
            bare = results["bare"][label]
            run["ratio"] = run["rps"] / bare["rps"] if bare["rps"] else 0.0
            rows.append(
                [
                    backend,
                    int(label),
                    run["rps"],
                    run["p50_ms"],
                    run["p95_ms"],
                    run["p99_ms"],
                    bare["rps"],
                    bare["p99_ms"],
                    f"{run['ratio']:.2f}",
                    run["check"]["stored"],
                    run["check"]["lost"],
                    run["check"]["duplicated"],
                ]
            )
    print(
        table(
            f"{title}: {REQUESTS:,} distinct callbacks per run, uvicorn 1 worker "
            f"({generator()} load generator)",
            [
                "database",
                "conns",
                "kit req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "bare req/s",
                "bare p99",
                "kit/bare",
                "stored",
                "lost",
                "dup",
            ],
            rows,
        )
    )
    if generator() == "python":
        print(
            "note: the Python load generator ran (no wrk, or MPESA_BENCH_LOADGEN=python); "
            "it may be the limit"
        )
    return results


def precreate_stk(db_url: str, tag: str, threads: int, per_thread: int) -> None:
    """Store PENDING STK requests for every CheckoutRequestID a run may name (not measured)."""
    from mpesa_daraja_kit.db.bulk import bulk_insert
    from mpesa_daraja_kit.db.models import stk_requests
    from mpesa_daraja_kit.enums import StkPushStatus
    from mpesa_daraja_kit.phone import hash_msisdn

    now = datetime.now(UTC)
    phone = "254708374149"
    rows = [
        {
            "id": uuid.uuid4(),
            "merchant_request_id": "29115-34620561-1",
            "checkout_request_id": checkout_id(tag, thread, n),
            "phone_number": phone,
            "phone_hash": hash_msisdn(phone),
            "amount": Decimal("500.00"),
            "account_reference": f"POL{n % 1000:07d}",
            "account_key": f"POL{n % 1000:07d}",
            "transaction_desc": "Premium",
            "status": StkPushStatus.PENDING,
            "host_account_id": f"pol{n % 1000:07d}",
            "outcome_unknown": False,
            "reconcile_attempts": 0,
            "initiated_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for thread in range(1, threads + 1)
        for n in range(1, per_thread + 1)
    ]

    async def insert() -> None:
        engine = create_async_engine(db_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await bulk_insert(conn, stk_requests, rows)
        finally:
            await engine.dispose()

    asyncio.run(insert())


def finish(name: str, results: dict[str, Any]) -> dict[str, Any]:
    """Save the results and return them."""
    path = save(name, results)
    print(f"\nwritten to {path}")
    return results
