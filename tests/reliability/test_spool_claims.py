"""Workers sharing one spool folder (the default) each take a file exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import callback_log, payment_items
from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.services.spool import CallbackSpool
from tests.reliability.conftest import confirmation_bytes
from tests.support import kit_settings


def confirmation(n: int) -> bytes:
    return confirmation_bytes(f"UAS{n:07d}")


def spool_files(folder: Path, count: int) -> None:
    spool = CallbackSpool(folder)
    for n in range(count):
        spool.append(IncomingCallback(kind=CallbackKind.C2B_CONFIRMATION, body=confirmation(n)))


async def rows(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_three_workers_replaying_one_folder_store_each_body_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    folder = tmp_path / "spool"
    spool_files(folder, 60)
    kits = [
        MpesaKit(kit_settings("http://127.0.0.1:9", spool_dir=str(folder)), engine=engine)
        for _ in range(3)
    ]
    results = await asyncio.gather(*(kit.replay_spool() for kit in kits))
    assert sum(r.stored for r in results) == 60
    assert [r.quarantined for r in results] == [0, 0, 0]
    assert await rows(engine, callback_log) == 60  # no body stored twice
    assert await rows(engine, payment_items) == 60
    assert not list(folder.glob("*.json"))


def test_a_killed_workers_claims_go_back_to_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool_files(folder, 3)
    # A worker claims two files and is killed (-9) before storing them.
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from mpesa_daraja_kit.services.spool import CallbackSpool
        spool = CallbackSpool({str(folder)!r})
        for path in spool.entries()[:2]:
            spool.claim(path)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=False)
    survivor = CallbackSpool(folder)
    assert len(survivor.entries()) == 1  # two are in the dead worker's claim folder
    live = CallbackSpool(folder)
    live.claim(survivor.entries()[0])  # a live worker's claim is not taken from it
    assert survivor.recover_abandoned() == 2
    assert len(survivor.entries()) == 2
    assert len(live.claimed()) == 1


def test_a_claim_folder_removed_under_a_worker_is_made_again(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool_files(folder, 2)
    spool = CallbackSpool(folder)
    first = spool.claim(spool.entries()[0])
    assert first is not None
    for file in first.parent.iterdir():
        file.unlink()
    first.parent.rmdir()  # as a mistaken recovery by another process would
    again = spool.claim(spool.entries()[0])
    assert again is not None and again.exists()
