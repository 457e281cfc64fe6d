"""``mpesa-kit events``: list the dead letters and redeliver them."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from mpesa_daraja_kit.cli import get_command
from mpesa_daraja_kit.config import C2BValidationMode
from mpesa_daraja_kit.plugins import make_plugin_manager
from mpesa_daraja_kit.services.outbox import EventOutbox
from tests.conftest import clear_tables
from tests.databases import make_engine
from tests.reliability.test_hook_limits import AlwaysFails
from tests.reliability.test_outbox import queue


async def two_dead_events(url: str) -> None:
    engine = make_engine(url)
    try:
        await clear_tables(engine)
        pm = make_plugin_manager([AlwaysFails()], validation_mode=C2BValidationMode.KNOWN_ACCOUNT)
        outbox = EventOutbox(engine, pm, max_attempts=1, deliver_inline=False)
        await queue(engine, outbox, 2)
        assert (await outbox.drain()).failed == 2
    finally:
        await engine.dispose()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(get_command(), list(args))
    return result.exit_code, result.output


def test_list_and_redeliver_dead_events(db_url: str) -> None:
    asyncio.run(two_dead_events(db_url))
    code, out = invoke("events", "list", "--dead", "--url", db_url)
    assert code == 0, out
    dead = json.loads(out)
    assert [d["attempts"] for d in dead] == [1, 1]
    assert all("RuntimeError: host down" in d["last_error"] for d in dead)

    code, out = invoke("events", "redeliver", dead[0]["id"], "--url", db_url)
    assert (code, json.loads(out)) == (0, {"redelivered": 1})
    code, out = invoke("events", "list", "--dead", "--url", db_url)
    assert [d["id"] for d in json.loads(out)] == [dead[1]["id"]]

    code, out = invoke("events", "redeliver", dead[0]["id"], "--url", db_url)
    assert code == 1 and "error: not_found: no dead event" in out
    code, out = invoke("events", "redeliver", "--all-dead", "--url", db_url)
    assert (code, json.loads(out)) == (0, {"redelivered": 1})
    assert json.loads(invoke("events", "list", "--dead", "--url", db_url)[1]) == []


def test_redeliver_needs_an_id_or_all_dead(db_url: str) -> None:
    code, out = invoke("events", "redeliver", "--url", db_url)
    assert code == 2 and "give an event ID or --all-dead" in out
