"""``mpesa-kit reconcile``: settle silent STK prompts by STK Push Query, expire dead ones.

Safe to run from cron or next to running hosts: requests are claimed in the
database, so no request is queried twice at once (docs/reconciliation.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import attrs
import click

from mpesa_daraja_kit.cli._common import open_kit, url_option
from mpesa_daraja_kit.db.migrate import check_schema

__all__ = ["reconcile"]


async def _run(url: str | None, limit: int, watch: bool) -> None:
    kit = open_kit(url, daraja=True)
    try:
        await check_schema(kit.engine)
        while True:
            report = await kit.reconcile.run_once(limit=limit)
            click.echo(json.dumps(attrs.asdict(report)))
            if not watch:
                return
            await asyncio.sleep(kit.settings.reconcile_interval)
    finally:
        await kit.aclose()


@click.command()
@url_option
@click.option("--limit", default=500, show_default=True, help="Most requests to claim per pass.")
@click.option("--watch", is_flag=True, help="Keep running a pass every MPESA_RECONCILE_INTERVAL.")
def reconcile(url: str | None, limit: int, watch: bool) -> None:
    """Query PENDING STK requests whose callback never came; expire the dead ones.

    Prints one JSON line per pass: claimed, queried, settled, still_pending,
    expired, errors, rate_limited, missing_ipn.
    """
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(url, limit, watch))
