"""The database goes away: callbacks are spooled, acknowledged, and applied once when it is back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import callback_log, payment_items
from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.services.spool import CallbackSpool
from tests.conftest import load_fixture
from tests.reliability.conftest import confirmation_bytes, via_proxy
from tests.reliability.proxy import TcpProxy
from tests.support import HostPlugin, kit_settings, wait_until_async

pytestmark = pytest.mark.slow  # a chaos proxy and restarts

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def confirmation(n: int) -> bytes:
    return confirmation_bytes(f"UAQ{n:07d}")


@pytest.fixture
async def kit(
    db_url: str, engine: AsyncEngine, proxy: TcpProxy, tmp_path: Path
) -> AsyncIterator[MpesaKit]:
    settings = kit_settings(
        "http://127.0.0.1:9", spool_dir=str(tmp_path / "spool"), spool_replay_interval=0.1
    )
    kit = MpesaKit(
        settings,
        database_url=via_proxy(db_url, proxy),
        plugins=[HostPlugin()],
    )
    yield kit
    await kit.aclose()


async def post(kit: MpesaKit, path: str, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=kit.public_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        return await http.post(path, content=body, headers={"Content-Type": "application/json"})


async def rows(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_callbacks_while_the_database_is_down_are_spooled_then_applied_once(
    kit: MpesaKit, engine: AsyncEngine, proxy: TcpProxy
) -> None:
    assert (await post(kit, "/confirmation", confirmation(0))).json() == ACCEPTED
    await proxy.stop()  # the database is gone: every connection cut, no new ones

    for n in range(1, 9):
        response = await post(kit, "/confirmation", confirmation(n))
        assert response.status_code == 200
        assert response.json() == ACCEPTED
    stk = load_fixture("stk_callback_success")
    stk_response = await post(kit, "/stk-push/callback", json.dumps(stk).encode())
    assert stk_response.json() == ACCEPTED
    assert kit.spool is not None
    assert len(kit.spool.spool) == 9
    assert await rows(engine, payment_items) == 1  # nothing half-written meanwhile

    await proxy.start()
    replay = await kit.replay_spool()
    assert (replay.stored, replay.remaining) == (9, 0)
    assert await rows(engine, payment_items) == 9
    async with engine.connect() as conn:
        outcomes = sorted(
            (r.kind.value, r.outcome.value)
            for r in (await conn.execute(sa.select(callback_log))).all()
        )
    assert outcomes.count(("C2B_CONFIRMATION", "APPLIED")) == 9
    assert ("STK_CALLBACK", "WAITING") in outcomes  # its request is unknown here: kept waiting

    again = await kit.replay_spool()
    assert again.stored == 0
    for n in range(9):  # Safaricom (or a tester) sends them all again: nothing changes
        await post(kit, "/confirmation", confirmation(n))
    assert await rows(engine, payment_items) == 9
    recorded = await _events(engine, "mpesa_payment_recorded")
    assert recorded == 9


async def _events(engine: AsyncEngine, hook: str) -> int:
    from mpesa_daraja_kit.db.models import event_outbox

    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                sa.select(sa.func.count())
                .select_from(event_outbox)
                .where(event_outbox.c.event_type == hook)
            )
            or 0
        )


async def test_the_lifespan_replays_the_spool_when_the_database_returns(
    kit: MpesaKit, engine: AsyncEngine, proxy: TcpProxy
) -> None:
    async with kit.lifespan():
        await proxy.stop()
        for n in range(20, 25):
            assert (await post(kit, "/confirmation", confirmation(n))).json() == ACCEPTED
        assert kit.spool is not None
        assert len(kit.spool.spool) == 5
        await proxy.start()
        await wait_until_async(lambda: len(kit.spool.spool) == 0, timeout=20)  # type: ignore[union-attr]

        async def all_recorded() -> bool:
            return await rows(engine, payment_items) == 5

        await wait_until_async(all_recorded, timeout=20)


def test_spool_files_are_whole_and_read_back(tmp_path: Path) -> None:
    spool = CallbackSpool(tmp_path)
    incoming = IncomingCallback(
        kind=CallbackKind.STK_CALLBACK,
        body=b'{"Body": {}}\xff',
        content_type="application/json",
        source_address="196.201.214.200",
        correlation_id="c-1",
    )
    first = spool.append(incoming)
    second = spool.append(incoming)
    assert spool.entries() == [first, second]
    back = spool.load(first)
    assert back.body == incoming.body
    assert back.kind is CallbackKind.STK_CALLBACK
    assert back.correlation_id == "c-1"
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / "broken.json").write_text("{not json")
    spool.remove(first)
    assert len(spool) == 2  # the second and the broken one


async def test_validation_is_answered_even_with_the_database_down(
    kit: MpesaKit, proxy: TcpProxy
) -> None:
    await proxy.stop()
    response = await post(kit, "/validation", json.dumps(load_fixture("c2b_validation")).encode())
    assert response.status_code == 200
    assert response.json()["ResultCode"] in ("0", "C2B00012")
    # Validation is answered, never spooled: no money has moved yet.
    assert kit.spool is not None
    assert len(kit.spool.spool) == 0


def test_replay_spool_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from click.testing import CliRunner

    from mpesa_daraja_kit.cli import get_command
    from mpesa_daraja_kit.db.migrate import migrate

    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    asyncio.run(migrate(url))
    spool_dir = tmp_path / "spool"
    CallbackSpool(spool_dir).append(
        IncomingCallback(
            kind=CallbackKind.C2B_CONFIRMATION,
            body=confirmation(77),
            content_type="application/json",
        )
    )
    monkeypatch.setenv("MPESA_ENVIRONMENT", "simulator")
    monkeypatch.setenv("MPESA_SPOOL_DIR", str(spool_dir))
    runner = CliRunner()
    refused = runner.invoke(get_command(), ["callbacks", "replay-spool", "--url", url])
    assert refused.exit_code == 2  # the host's plugins, or an explicit --no-plugins
    result = runner.invoke(
        get_command(), ["callbacks", "replay-spool", "--url", url, "--no-plugins"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["stored"] == 1
    assert list(spool_dir.glob("*.json")) == []
