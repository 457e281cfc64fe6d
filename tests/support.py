"""A test host: a plugin with accounts and a principal, and a kit built around it."""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.events import Account, Event
from mpesa_daraja_kit.hookspecs import hookimpl
from mpesa_daraja_kit.kit import MpesaKit

API_KEY = "test-key"


class HostPlugin:
    """Implements the host hooks like a small insurer would, and records every event."""

    def __init__(self, accounts: dict[str, Account] | None = None) -> None:
        self.accounts = (
            accounts
            if accounts is not None
            else {
                "POL0012345": Account(
                    reference="POL0012345",
                    account_id="policy-1",
                    display_name="John Doe",
                    expected_amount=Decimal("500"),
                ),
                "POL0099881": Account(reference="POL0099881", account_id="policy-2"),
            }
        )
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self.fail_next: int = 0

    @hookimpl
    def mpesa_authenticate(self, request: Any) -> str | None:
        if request.headers.get("X-API-Key") == API_KEY:
            return "agent-7"
        return None

    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        await asyncio.sleep(0)
        return self.accounts.get(account_reference.upper())

    def _record(self, event: Event) -> None:
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("host hook failed on purpose")
            self.events.append(event)

    @hookimpl
    def mpesa_stk_push_updated(self, event: Event) -> None:
        self._record(event)

    @hookimpl
    def mpesa_payment_recorded(self, event: Event) -> None:
        self._record(event)

    @hookimpl
    def mpesa_payment_linked(self, event: Event) -> None:
        self._record(event)

    @hookimpl
    def mpesa_payment_unmatched(self, event: Event) -> None:
        self._record(event)

    @hookimpl
    def mpesa_statement_imported(self, event: Event) -> None:
        self._record(event)

    def of(self, hook: str) -> list[Any]:
        """Return the recorded events of one hook."""
        with self._lock:
            return [e for e in self.events if e.hook == hook]


def kit_settings(
    daraja_url: str, callback_base: str = "http://127.0.0.1:9/cb", **overrides: Any
) -> Settings:
    """Return simulator settings pointed at ``daraja_url`` with callbacks under ``callback_base``."""
    # Each kit spools to its own folder: never another test's leftovers.
    overrides.setdefault("spool_dir", tempfile.mkdtemp(prefix="mpesa-spool-"))
    return Settings.for_simulator(base_url=daraja_url, callback_base_url=callback_base, **overrides)


def make_kit(
    engine: AsyncEngine, settings: Settings, plugin: Any | None = None, **kwargs: Any
) -> MpesaKit:
    """Return a kit on ``engine`` with the test plugin (no background dispatcher)."""
    plugins = [plugin] if plugin is not None else []
    return MpesaKit(settings, engine=engine, plugins=plugins, **kwargs)


def stk_callback_body(
    checkout_request_id: str,
    result_code: int = 0,
    *,
    merchant_request_id: str = "29115-34620561-1",
    amount: str = "1.00",
    receipt: str = "SGA7RT61SV",
    phone: int = 254708374149,
    date: int = 20240710101603,
) -> dict[str, Any]:
    """Return an STK callback in Daraja's exact shape (tests/fixtures/daraja/stk_callback_*)."""
    callback: dict[str, Any] = {
        "MerchantRequestID": merchant_request_id,
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": result_code,
        "ResultDesc": "The service request is processed successfully."
        if result_code == 0
        else "Request cancelled by user",
    }
    if result_code == 0:
        callback["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": Decimal(amount)},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": date},
                {"Name": "PhoneNumber", "Value": phone},
            ]
        }
    return {"Body": {"stkCallback": callback}}


def dumps(data: Any) -> bytes:
    """Serialise like Daraja: Decimals as bare JSON numbers (``1.00``, not ``"1.00"``)."""

    def encode(value: Any) -> str:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(encode(v) for v in value) + "]"
        return json.dumps(value)

    return encode(data).encode()


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


async def wait_until_async(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll an (async) predicate until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


_phones = itertools.count(1)


def new_phone() -> str:
    """Return a phone no other test uses (the simulator locks a phone with an open prompt).

    The last four digits never hit the simulator's outcome rule (1032, 2001, …).
    """
    return f"2547{next(_phones) * 10 + 7:08d}"
