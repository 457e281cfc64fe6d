"""Fixtures: a served callback receiver and served simulators talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import run_simulator, serve_app
from tests.simulator.raw import RawDaraja
from tests.simulator.receiver import CallbackReceiver

STK_PATH = "hooks/stk/callback"
CONFIRMATION_PATH = "hooks/c2b/confirmation"
VALIDATION_PATH = "hooks/c2b/validation"

MakeDaraja = Callable[..., RawDaraja]


@pytest.fixture(scope="session")
def served_receiver() -> Iterator[CallbackReceiver]:
    """Serve one callback receiver on 127.0.0.1 for the session."""
    recv = CallbackReceiver()
    with serve_app(recv.app, shutdown_timeout=2) as url:
        recv.base_url = url
        try:
            yield recv
        finally:
            recv.release()


@pytest.fixture
def receiver(served_receiver: CallbackReceiver) -> Iterator[CallbackReceiver]:
    """The served receiver, empty and answering 200 Accepted."""
    served_receiver.reset()
    yield served_receiver
    served_receiver.reset()


@pytest.fixture
def make_daraja(receiver: CallbackReceiver) -> Iterator[MakeDaraja]:
    """Return a factory serving a simulator (config overrides as keywords)."""
    with ExitStack() as stack:

        def make(settings: Settings | None = None, **config: Any) -> RawDaraja:
            config.setdefault("callback_delay", 0.0)
            config.setdefault("seed", 7)
            url, sim = stack.enter_context(run_simulator(settings, SimulatorConfig(**config)))
            raw = RawDaraja(url, sim, receiver.url(STK_PATH))
            stack.callback(raw.close)
            return raw

        yield make


@pytest.fixture
def daraja(make_daraja: MakeDaraja) -> RawDaraja:
    """A simulator with default behaviour and no customer delay."""
    return make_daraja()
