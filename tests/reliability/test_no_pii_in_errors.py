"""Nothing forged, nothing leaked: database errors and the path secret stay out of logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

from mpesa_daraja_kit.client import AsyncDarajaClient
from mpesa_daraja_kit.db.models import callback_log
from mpesa_daraja_kit.enums import CallbackOutcome
from mpesa_daraja_kit.events import Account
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.log import describe_error
from mpesa_daraja_kit.services.c2b import C2BService
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import run_simulator, serve_app_async
from tests.c2b.conftest import confirmation, confirmation_body
from tests.support import HostPlugin, kit_settings, make_kit, new_phone, wait_until_async

NAME = "WANJIKU"


class DriverDataError(Exception):
    """Like asyncpg's DataError: the message quotes the offending value."""

    sqlstate = "22P02"
    column_name = "first_name"

    def __init__(self) -> None:
        super().__init__(
            f"invalid input for query argument $19: '{NAME} KAMAU' (expected str, got bytes)"
            f"\nDETAIL:  Key (first_name)=({NAME}) is wrong"
        )


def leaky_error() -> DBAPIError:
    return DataError(
        "INSERT INTO mpesa_payment_report_items ...", {"first_name": NAME}, DriverDataError()
    )


def capture(caplog: pytest.LogCaptureFixture) -> None:
    # INFO for everyone (aiosqlite's DEBUG lines quote every statement's parameters:
    # a driver's debugging aid, off unless asked for), DEBUG for the kit.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="mpesa_daraja_kit")


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(record.exc_text or "")
        parts.append(json.dumps(record.__dict__, default=str))
    return "\n".join(parts)


def test_a_database_error_is_described_without_its_values() -> None:
    text = describe_error(leaky_error())
    assert NAME not in text
    assert "DataError" in text and "22P02" in text and "first_name" in text
    assert "invalid input for query argument" in text
    mysql = IntegrityError(
        "INSERT", None, Exception(1062, f"Duplicate entry '{NAME}' for key 'uq_x'")
    )
    text = describe_error(mysql)
    assert NAME not in text and "1062" in text and "uq_x" in text
    assert describe_error(ValueError("plain")) == "ValueError: plain"


async def test_a_database_error_keeps_the_name_out_of_the_callback_log_and_the_logs(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fails(*args: Any, **kwargs: Any) -> Any:
        raise leaky_error()

    monkeypatch.setattr(C2BService, "_record", fails)
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), HostPlugin())
    capture(caplog)
    body = confirmation_body(FirstName=NAME)
    outcome = await kit.c2b.handle_confirmation(confirmation(body))
    assert outcome is CallbackOutcome.FAILED
    async with engine.connect() as conn:
        (message,) = (await conn.execute(sa.select(callback_log.c.error_message))).scalars()
    assert NAME not in message
    assert "DataError" in message and "22P02" in message
    assert caplog.records and NAME not in logged_text(caplog)


async def test_a_real_postgresql_error_keeps_the_name_out(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a NUL byte in text is refused by PostgreSQL only")
    # Text from Safaricom is cleaned before SQL (NUL removed), so the offending value
    # comes from the host here: its account id for the policy carries the NUL.
    host = HostPlugin({"POL0012345": Account(reference="POL0012345", account_id=f"{NAME}\x00")})
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), host)
    capture(caplog)
    body = confirmation_body(BillRefNumber="POL0012345")
    assert await kit.c2b.handle_confirmation(confirmation(body)) is CallbackOutcome.FAILED
    async with engine.connect() as conn:
        (message,) = (await conn.execute(sa.select(callback_log.c.error_message))).scalars()
    assert NAME not in message and "22021" in message
    assert NAME not in logged_text(caplog)


def test_the_sample_host_engine_hides_parameters(tmp_path: Any) -> None:
    from sample_host.app import make_engine

    for url in (f"sqlite+aiosqlite:///{tmp_path}/x.db", "postgresql+asyncpg://u@127.0.0.1/x"):
        engine = make_engine(url)
        assert engine.sync_engine.hide_parameters, url


SECRET = "k3y-" + "z" * 28


@pytest.mark.slow
async def test_the_path_secret_stays_out_of_the_logs_during_a_simulator_delivery(
    database_urls: dict[str, str],
    sqlite_engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    capture(caplog)
    config = SimulatorConfig(callback_delay=0, c2b_validation=True, allow_plain_http=True)
    plugin = HostPlugin()
    with run_simulator(config=config) as sim:
        settings = kit_settings(sim.base_url, callback_path_secret=SECRET)
        kit = MpesaKit(settings, database_url=database_urls["sqlite"], plugins=[plugin])
        host = Starlette(
            routes=[Mount("/hooks/pay", kit.public_app)], lifespan=lambda app: kit.lifespan()
        )
        async with serve_app_async(host) as host_url, AsyncDarajaClient(settings) as client:
            base = f"{host_url}/hooks/pay/{SECRET}"
            await client.register_c2b_urls(f"{base}/confirmation", f"{base}/validation")
            await client.c2b_simulate(250, new_phone(), "pol0012345")
            await wait_until_async(lambda: plugin.of("mpesa_payment_recorded"), timeout=15)
    assert any(r.name == "httpx" for r in caplog.records)  # deliveries were logged ...
    assert SECRET not in logged_text(caplog)  # ... without the secret
