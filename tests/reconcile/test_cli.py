"""``mpesa-kit reconcile`` runs one pass and prints its report."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from mpesa_daraja_kit.cli import get_command
from mpesa_daraja_kit.clock import utc_now
from mpesa_daraja_kit.db.migrate import migrate
from mpesa_daraja_kit.db.models import stk_requests
from mpesa_daraja_kit.enums import StkPushStatus
from tests.databases import make_engine


async def _prepare(url: str) -> uuid.UUID:
    await migrate(url)
    engine = make_engine(url)
    request_id = uuid.uuid4()
    old = utc_now() - timedelta(minutes=10)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(stk_requests).values(
                id=request_id,
                phone_number="254708374149",
                phone_hash="0" * 64,
                amount=10,
                account_reference="POL0012345",
                account_key="POL0012345",
                status=StkPushStatus.PENDING,
                outcome_unknown=True,
                created_at=old,
                initiated_at=old,
                updated_at=old,
            )
        )
    await engine.dispose()
    return request_id


async def _status(url: str, request_id: uuid.UUID) -> StkPushStatus:
    engine = make_engine(url)
    async with engine.connect() as conn:
        status = await conn.scalar(
            sa.select(stk_requests.c.status).where(stk_requests.c.id == request_id)
        )
    await engine.dispose()
    assert status is not None
    return StkPushStatus(status)


def test_reconcile_command_expires_an_old_outcome_unknown_request(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/kit.db"
    request_id = asyncio.run(_prepare(url))
    env = {"MPESA_ENVIRONMENT": "simulator", "MPESA_BASE_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(get_command(), ["reconcile", "--url", url], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["claimed"] == 1
    assert report["expired"] == 1
    assert report["queried"] == 0
    assert asyncio.run(_status(url, request_id)) is StkPushStatus.EXPIRED
