"""Fixtures for the STK flow: one simulator for the module, a kit per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator
from tests.support import HostPlugin, kit_settings, make_kit


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """The kit's own Daraja over real HTTP; prompts settle at once, callbacks go nowhere."""
    with run_simulator(config=SimulatorConfig(callback_delay=0, allow_plain_http=True)) as running:
        yield running


@pytest.fixture
def plugin() -> HostPlugin:
    return HostPlugin()


@pytest.fixture
async def kit(
    engine: AsyncEngine, simulator: RunningSimulator, plugin: HostPlugin
) -> AsyncIterator[MpesaKit]:
    kit = make_kit(engine, kit_settings(simulator.base_url), plugin)
    try:
        yield kit
    finally:
        await kit.client.aclose()
