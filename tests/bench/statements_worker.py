"""One statement-import measurement, in its own process (so peak RSS is its own).

``python -m tests.bench.statements_worker kit|per_row URL FILE ROWS KNOWN_SEED`` prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.engine import create_kit_engine
from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.enums import Direction, EntryKind, PaymentSource, StatementReasonType
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.statements import RowFailure, StatementRow, open_statement
from tests.bench.common import peak_rss_mb


async def kit_import(url: str, path: str) -> dict[str, Any]:
    settings = Settings.for_simulator(stk_enabled=False, statement_max_bytes=2**31)
    kit = MpesaKit(settings, database_url=url, deliver_events=False)
    try:
        started = time.perf_counter()
        report = await kit.statements.import_file(path, uploaded_by="bench")
        seconds = time.perf_counter() - started
    finally:
        await kit.aclose()
    return {
        "seconds": seconds,
        "rows": report.total_statement_items,
        "matched": report.matched_ipn_records,
        "duplicates": report.duplicate_statement_records,
        "gaps": report.gaps_filled,
        "failed": report.failed_item_count,
    }


async def per_row_import(url: str, path: str, limit: int) -> dict[str, Any]:
    """The original plan's algorithm: per row, one look-up for an IPN record, one insert."""
    engine = create_kit_engine(url)
    done = matched = gaps = 0
    started = time.perf_counter()
    try:
        with open_statement(path, max_bytes=2**31) as statement:
            for result in statement.rows():
                if done >= limit:
                    break
                if isinstance(result, RowFailure):
                    continue
                done += 1
                async with engine.begin() as conn:
                    found = await conn.scalar(
                        sa.select(payment_items.c.id)
                        .where(
                            payment_items.c.transaction_reference == result.receipt,
                            payment_items.c.source == PaymentSource.IPN,
                        )
                        .limit(1)
                    )
                if found is not None:
                    matched += 1
                    continue
                async with engine.begin() as conn:
                    await conn.execute(sa.insert(payment_items).values(**_row_values(result)))
                gaps += 1
    finally:
        await engine.dispose()
    return {
        "seconds": time.perf_counter() - started,
        "rows": done,
        "matched": matched,
        "gaps": gaps,
    }


def _row_values(row: StatementRow) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "transaction_reference": row.receipt,
        "entry_key": row.entry_key,
        "entry_kind": row.kind,
        "direction": row.direction,
        "source": PaymentSource.STATEMENT,
        "completion_time": row.completion_time,
        "transaction_status": row.transaction_status,
        "paid_in": row.paid_in,
        "withdrawn": row.withdrawn,
        "balance": row.balance,
        "reason_type": row.reason_type,
        "account_number": row.account_number,
        "details": row.details,
        "created_at": row.completion_time,
        "updated_at": row.completion_time,
    }


async def seed_ipn(url: str, path: str, share: float) -> int:
    """Record ``share`` of the file's money received as IPN rows (the setup, not measured)."""
    engine = create_kit_engine(url)
    batch: list[dict[str, Any]] = []
    total = 0
    step = round(1 / share) if share else 0
    received = 0
    try:
        with open_statement(path, max_bytes=2**31) as statement:
            for result in statement.rows():
                if not isinstance(result, StatementRow) or result.kind is not EntryKind.RECEIVED:
                    continue
                received += 1
                if not step or received % step:
                    continue
                batch.append(
                    {
                        "id": uuid.uuid4(),
                        "transaction_reference": result.receipt,
                        "entry_key": "",
                        "entry_kind": EntryKind.RECEIVED,
                        "direction": Direction.IN,
                        "source": PaymentSource.IPN,
                        "completion_time": result.completion_time,
                        "transaction_status": "Completed",
                        "paid_in": result.paid_in or Decimal("1.00"),
                        "reason_type": StatementReasonType.PayBill_STK,
                        "account_number": result.account_number,
                        "confirmed_by_ipn_at": result.completion_time,
                        "created_at": result.completion_time,
                        "updated_at": result.completion_time,
                    }
                )
                if len(batch) >= 5000:
                    total += await _flush(engine, batch)
            total += await _flush(engine, batch)
    finally:
        await engine.dispose()
    return total


async def _flush(engine: Any, batch: list[dict[str, Any]]) -> int:
    if not batch:
        return 0
    async with engine.begin() as conn:
        await conn.execute(sa.insert(payment_items), batch)
    n = len(batch)
    batch.clear()
    return n


def main() -> None:
    mode, url, path = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "seed":
        result: dict[str, Any] = {"seeded": asyncio.run(seed_ipn(url, path, float(sys.argv[4])))}
    elif mode == "kit":
        result = asyncio.run(kit_import(url, path))
    else:
        result = asyncio.run(per_row_import(url, path, int(sys.argv[4])))
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["file_mb"] = round(Path(path).stat().st_size / 2**20, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
