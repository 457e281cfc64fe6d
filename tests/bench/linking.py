"""Linking at scale (issue 10): receipt and heuristic links with 1 000 000 rows each.

PostgreSQL gets ``MPESA_BENCH_LINK_ROWS`` STK requests and as many payment rows
(a year of a busy paybill: 200 000 customers, 70 % of prompts paid and linked by
receipt, the rest cancelled, failed or expired; 30 % of payments made from the
app without a prompt), loaded with asyncpg ``COPY`` (not measured). Then, for
1 000 fresh payments each, the kit's :class:`~mpesa_daraja_kit.services.linking.Linker`

- looks up the request by receipt (the C2B confirmation of a paid prompt), and
- looks up heuristic candidates (account + phone hash + amount + 24 h window)
  for payments whose receipt no request knows,

timed alone ("lookup") and with the link written ("link": ``link_payment`` in a
transaction rolled back afterwards, so every sample sees the same data).
``EXPLAIN (ANALYZE, BUFFERS)`` of both look-ups is printed and saved: it must
show index scans.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from tests.bench.common import database, save, table

ROWS = int(os.environ.get("MPESA_BENCH_LINK_ROWS", "1000000"))
SAMPLES = int(os.environ.get("MPESA_BENCH_LINK_SAMPLES", "1000"))
CUSTOMERS = 200_000
CHUNK = 50_000

STK_COLUMNS = [
    "id",
    "merchant_request_id",
    "checkout_request_id",
    "phone_number",
    "phone_hash",
    "amount",
    "account_reference",
    "account_key",
    "transaction_desc",
    "status",
    "result_code",
    "result_desc",
    "receipt_number",
    "linked_transaction_id",
    "transaction_date",
    "host_account_id",
    "outcome_unknown",
    "reconcile_attempts",
    "initiated_at",
    "completed_at",
    "created_at",
    "updated_at",
]
ITEM_COLUMNS = [
    "id",
    "transaction_reference",
    "entry_key",
    "entry_kind",
    "direction",
    "source",
    "completion_time",
    "transaction_status",
    "transaction_type",
    "paid_in",
    "reason_type",
    "account_number",
    "account_key",
    "msisdn",
    "msisdn_hash",
    "business_short_code",
    "mpesa_stk_push_request_id",
    "link_method",
    "confirmed_by_ipn_at",
    "created_at",
    "updated_at",
]
_OUTCOMES = {7: ("CANCELLED", "1032"), 8: ("FAILED", "1"), 9: ("EXPIRED", "1037")}


class _Customers:
    def __init__(self) -> None:
        self.phones = [f"2547{10_000_000 + c:08d}" for c in range(CUSTOMERS)]
        self.hashes = [hashlib.sha256(p.encode()).hexdigest() for p in self.phones]

    def of(self, i: int) -> tuple[str, str, str]:
        c = (i * 7919) % CUSTOMERS
        return self.phones[c], self.hashes[c], f"POL{c:07d}"


def _amount(i: int) -> Decimal:
    return Decimal(100 + (i * 37) % 4900)


def _history(n: int, now: datetime, people: _Customers) -> Iterator[tuple[list[Any], list[Any]]]:
    """Yield (stk rows, payment rows) chunks of a year of history."""
    start = now - timedelta(days=365)
    step = timedelta(days=364) / max(n, 1)
    for first in range(0, n, CHUNK):
        stk: list[Any] = []
        items: list[Any] = []
        for i in range(first, min(n, first + CHUNK)):
            phone, digest, policy = people.of(i)
            created = start + step * i
            amount = _amount(i)
            kind = i % 10
            request_id = uuid.uuid4()
            if kind < 7:
                receipt = f"S{i:09d}"
                status, code = "COMPLETED", "0"
            else:
                receipt = None
                status, code = _OUTCOMES[kind]
            done = created + timedelta(seconds=20)
            stk.append(
                [
                    request_id,
                    f"{i}-1",
                    f"ws_CO_{i:012d}",
                    phone,
                    digest,
                    amount,
                    policy,
                    policy,
                    "Premium",
                    status,
                    code,
                    "bench",
                    receipt,
                    receipt,
                    done if receipt else None,
                    policy.lower(),
                    False,
                    0,
                    created,
                    done,
                    created,
                    done,
                ]
            )
            # Every paid prompt has its payment; the other 30 % are app payments.
            if receipt is None:
                receipt, linked, method, time_of = f"P{i:09d}", None, None, done
            else:
                linked, method, time_of = request_id, "receipt", done
            items.append(
                [
                    uuid.uuid4(),
                    receipt,
                    "",
                    "RECEIVED",
                    "IN",
                    "IPN",
                    time_of,
                    "Completed",
                    "Pay Bill",
                    amount,
                    "PayBill_STK",
                    policy,
                    policy,
                    digest,
                    digest,
                    "174379",
                    linked,
                    method,
                    time_of,
                    time_of,
                    time_of,
                ]
            )
        yield stk, items


def _cases(
    now: datetime, people: _Customers, samples: int
) -> tuple[list[Any], list[Any], list[str], list[str]]:
    """Return the sample requests and payments: receipt cases, then heuristic cases."""
    stk: list[Any] = []
    items: list[Any] = []
    receipt_refs: list[str] = []
    heuristic_refs: list[str] = []
    for k in range(samples):
        phone, digest, policy = people.of(k * 13 + 5)
        amount = _amount(k + 3)
        created = now - timedelta(minutes=5 + k % 600)
        # A paid prompt whose C2B confirmation arrives now (receipt decides).
        receipt = f"LR{k:08d}"
        receipt_refs.append(receipt)
        stk.append(
            [
                uuid.uuid4(),
                f"r{k}",
                f"ws_CO_LR{k:08d}",
                phone,
                digest,
                amount,
                policy,
                policy,
                "Premium",
                "COMPLETED",
                "0",
                "bench",
                receipt,
                None,
                created,
                policy.lower(),
                False,
                0,
                created,
                created,
                created,
                created,
            ]
        )
        items.append(_payment(receipt, amount, policy, digest, created + timedelta(seconds=20)))
        # A prompt whose callback never came; the payment's receipt is unknown to it.
        phone, digest, policy = people.of(k * 17 + 11)
        heuristic = f"LH{k:08d}"
        heuristic_refs.append(heuristic)
        stk.append(
            [
                uuid.uuid4(),
                f"h{k}",
                f"ws_CO_LH{k:08d}",
                phone,
                digest,
                amount,
                policy,
                policy,
                "Premium",
                "PENDING",
                None,
                None,
                None,
                None,
                None,
                policy.lower(),
                False,
                0,
                created,
                None,
                created,
                created,
            ]
        )
        items.append(_payment(heuristic, amount, policy, digest, created + timedelta(seconds=30)))
    return stk, items, receipt_refs, heuristic_refs


def _payment(receipt: str, amount: Decimal, policy: str, digest: str, when: datetime) -> list[Any]:
    return [
        uuid.uuid4(),
        receipt,
        "",
        "RECEIVED",
        "IN",
        "IPN",
        when,
        "Completed",
        "Pay Bill",
        amount,
        "PayBill_STK",
        policy,
        policy,
        digest,
        digest,
        "174379",
        None,
        None,
        when,
        when,
        when,
    ]


async def _copy(conn: AsyncConnection, name: str, columns: list[str], rows: list[Any]) -> None:
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(name, records=rows, columns=columns)


async def _load(url: str, rows: int) -> dict[str, Any]:
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    people = _Customers()
    started = time.perf_counter()
    samples = min(SAMPLES, max(rows // 10, 1))
    stk, items, receipts, heuristics = _cases(now, people, samples)
    async with engine.begin() as conn:
        for chunk_stk, chunk_items in _history(rows - len(stk), now, people):
            await _copy(conn, "mpesa_stk_push_requests", STK_COLUMNS, chunk_stk)
            await _copy(conn, "mpesa_payment_report_items", ITEM_COLUMNS, chunk_items)
        await _copy(conn, "mpesa_stk_push_requests", STK_COLUMNS, stk)
        await _copy(conn, "mpesa_payment_report_items", ITEM_COLUMNS, items)
    async with engine.connect() as conn:
        await conn.execute(sa.text("COMMIT"))
        await conn.execute(sa.text("VACUUM ANALYZE mpesa_stk_push_requests"))
        await conn.execute(sa.text("VACUUM ANALYZE mpesa_payment_report_items"))
        counts = {
            table_name: int(await conn.scalar(sa.text(f"SELECT count(*) FROM {table_name}")) or 0)
            for table_name in ("mpesa_stk_push_requests", "mpesa_payment_report_items")
        }
    await engine.dispose()
    return {
        "load_seconds": time.perf_counter() - started,
        "counts": counts,
        "receipts": receipts,
        "heuristics": heuristics,
    }


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


async def _measure(url: str, receipts: list[str], heuristics: list[str]) -> dict[str, Any]:
    from mpesa_daraja_kit.clock import utc_now
    from mpesa_daraja_kit.config import C2BValidationMode
    from mpesa_daraja_kit.db.engine import create_kit_engine
    from mpesa_daraja_kit.db.models import payment_items, stk_requests
    from mpesa_daraja_kit.plugins import make_plugin_manager
    from mpesa_daraja_kit.services.linking import Linker
    from mpesa_daraja_kit.services.outbox import EventOutbox

    engine = create_kit_engine(url)
    pm = make_plugin_manager([], validation_mode=C2BValidationMode.KNOWN_ACCOUNT)
    linker = Linker(EventOutbox(engine, pm, deliver_inline=False), clock=utc_now)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        captured.append((statement, params))

    async def payment(conn: AsyncConnection, reference: str) -> Any:
        return (
            await conn.execute(
                sa.select(payment_items).where(payment_items.c.transaction_reference == reference)
            )
        ).one()

    async def receipt_lookup(conn: AsyncConnection, p: Any) -> Any:
        stmt = sa.select(stk_requests).where(
            stk_requests.c.receipt_number == p.transaction_reference
        )
        return (await conn.execute(stmt)).first()

    async def heuristic_lookup(conn: AsyncConnection, p: Any) -> Any:
        return await linker._candidates(conn, p)

    results: dict[str, Any] = {}
    plans: dict[str, str] = {}
    cases = [
        ("receipt", receipts, receipt_lookup),
        ("heuristic", heuristics, heuristic_lookup),
    ]
    for name, references, lookup in cases:
        lookups: list[float] = []
        links: list[float] = []
        linked = 0
        async with engine.connect() as conn:
            for reference in references:
                async with conn.begin() as tx:
                    p = await payment(conn, reference)
                    t0 = time.perf_counter()
                    found = await lookup(conn, p)
                    lookups.append(time.perf_counter() - t0)
                    assert found, f"no {name} candidate for {reference}"
                    t0 = time.perf_counter()
                    linked += bool(await linker.link_payment(conn, p))
                    links.append(time.perf_counter() - t0)
                    await tx.rollback()
            # The plan of the lookup exactly as the kit sends it.
            async with conn.begin() as tx:
                p = await payment(conn, references[0])
                captured.clear()
                await lookup(conn, p)
                statement, params = captured[-1]
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                rows = await driver.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, *(params or ())
                )
                plans[name] = "\n".join(r[0] for r in rows)
                await tx.rollback()
        results[name] = {
            "samples": len(references),
            "linked": linked,
            "lookup": _ms(lookups),
            "link": _ms(links),
            "index_scan": "Index" in plans[name] and "Seq Scan" not in plans[name],
        }
    await engine.dispose()
    results["plans"] = plans
    return results


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name, database("postgresql", Path(tmp_name)) as url:
        loaded = asyncio.run(_load(url, ROWS))
        measured = asyncio.run(_measure(url, loaded["receipts"], loaded["heuristics"]))
    targets = {"receipt": 2.0, "heuristic": 5.0}
    rows = []
    for name in ("receipt", "heuristic"):
        m = measured[name]
        median = m["lookup"]["median_ms"]
        rows.append(
            [
                name,
                m["samples"],
                median,
                m["lookup"]["p99_ms"],
                m["link"]["median_ms"],
                m["link"]["p99_ms"],
                "yes" if m["index_scan"] else "NO",
                f"< {targets[name]:g} ms: " + ("met" if median < targets[name] else "MISSED"),
            ]
        )
    counts = loaded["counts"]
    print(
        table(
            f"Linking with {counts['mpesa_stk_push_requests']:,} STK requests and "
            f"{counts['mpesa_payment_report_items']:,} payments (PostgreSQL; loaded in "
            f"{loaded['load_seconds']:.0f} s, not measured)",
            [
                "link",
                "samples",
                "lookup median ms",
                "lookup p99 ms",
                "link median ms",
                "link p99 ms",
                "index",
                "target",
            ],
            rows,
        )
    )
    for name, plan in measured["plans"].items():
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the {name} lookup:\n{plan}")
    result = {
        "rows": ROWS,
        "counts": counts,
        "load_seconds": loaded["load_seconds"],
        **{k: v for k, v in measured.items()},
    }
    path = save("linking", result)
    print(f"\nwritten to {path}")
    return result
