"""Schemathesis against the internal app's own OpenAPI document: no input makes it fail.

(Schemathesis' pytest plugin does not run on pytest 9, so its strategies are
driven with plain Hypothesis here.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mpesa_daraja_kit.db.migrate import migrate
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import run_simulator
from tests.support import API_KEY, HostPlugin, kit_settings

pytestmark = pytest.mark.slow  # property-based fuzzing of every route

HEADERS = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('st')}/kit.db"
    asyncio.run(migrate(url))
    # NullPool: schemathesis drives the ASGI app from event loops of its own.
    engine = create_async_engine(url, poolclass=NullPool)
    # The simulator is Daraja: a 5xx from the kit then means a fault of the kit's own.
    with run_simulator(config=SimulatorConfig(callback_delay=0)) as daraja:
        kit = MpesaKit(kit_settings(daraja.base_url), engine=engine, plugins=[HostPlugin()])
        yield schemathesis.openapi.from_asgi("/openapi.json", kit.internal_app)


def test_every_internal_operation_honours_the_schema(api: Any) -> None:
    every = [result.ok() for result in api.get_all_operations()]
    # Callbacks (public, `security: []`) are fuzzed by tests/fuzz against the public app.
    operations = [op for op in every if op.definition.raw.get("security") != []]
    labels = sorted(op.label for op in operations)
    assert len(operations) < len(every)
    assert "POST /stk-push/initiate" in labels
    assert "GET /payments" in labels
    for operation in operations:

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            # A schema cannot say "a file that is an M-Pesa statement": a valid
            # multipart body with a PNG in it is rightly refused (400), so the
            # positive-data check is left out; every other default check runs.
            case.call_and_validate(
                headers=HEADERS, excluded_checks=[schemathesis.checks.positive_data_acceptance]
            )

        check()
