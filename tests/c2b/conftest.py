"""Fixtures for the C2B flow: a kit per test, confirmation bodies, one simulator for STK."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from mpesa_daraja_kit.clock import format_daraja_timestamp, utc_now
from mpesa_daraja_kit.db.models import payment_items
from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.phone import hash_msisdn
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator
from tests.conftest import load_fixture
from tests.support import dumps, stk_callback_body

_receipts = itertools.count(1)


def new_receipt() -> str:
    """Return a receipt number no other test uses (``SGA`` + 7 characters)."""
    return f"SGA{next(_receipts):07d}"


def confirmation_body(**overrides: Any) -> dict[str, Any]:
    """Return the hashed-MSISDN confirmation fixture, paid now, with a fresh receipt."""
    body = load_fixture("c2b_confirmation_hashed_msisdn")
    body["TransID"] = new_receipt()
    body["TransTime"] = format_daraja_timestamp(utc_now())
    body.update(overrides)
    return body


def hashed(phone: str) -> str:
    """Return a phone as C2B now sends it: its SHA-256 hex."""
    return hash_msisdn(phone)


def confirmation(
    body: dict[str, Any] | bytes,
    *,
    content_type: str | None = "application/json",
    kind: CallbackKind = CallbackKind.C2B_CONFIRMATION,
    correlation_id: str | None = None,
) -> IncomingCallback:
    """Return a confirmation (or validation) as it reaches the service."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return IncomingCallback(
        kind=kind,
        body=raw,
        content_type=content_type,
        source_address="196.201.214.200",
        correlation_id=correlation_id,
    )


def stk_callback(
    checkout_request_id: str, *, receipt: str, phone: str, amount: str = "1.00"
) -> IncomingCallback:
    """Return a successful STK callback for ``checkout_request_id`` paid from ``phone``."""
    body = stk_callback_body(checkout_request_id, receipt=receipt, phone=int(phone), amount=amount)
    return IncomingCallback(
        kind=CallbackKind.STK_CALLBACK, body=dumps(body), content_type="application/json"
    )


async def payments(kit: MpesaKit) -> list[Any]:
    """Return every payment row, oldest first."""
    async with kit.engine.connect() as conn:
        return list(
            (
                await conn.execute(sa.select(payment_items).order_by(payment_items.c.created_at))
            ).all()
        )


@pytest.fixture
def stk_simulator(simulator: RunningSimulator) -> RunningSimulator:
    """The shared simulator (tests/conftest.py), under the name the C2B tests use."""
    return simulator


@pytest.fixture
def c2b_simulator() -> Iterator[RunningSimulator]:
    """A fresh simulator for tests that register C2B URLs (kept apart from STK tests)."""
    with run_simulator(config=SimulatorConfig(callback_delay=0, allow_plain_http=True)) as running:
        yield running
