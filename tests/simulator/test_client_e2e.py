"""The kit's own clients against the simulator, over a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from mpesa_daraja_kit.client import (
    AsyncDarajaClient,
    DarajaAPIError,
    DarajaClient,
    DarajaErrorKind,
)
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.enums import StkPushStatus
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator
from mpesa_daraja_kit.wire import StkQueryResponse
from tests.simulator.conftest import CONFIRMATION_PATH, STK_PATH, VALIDATION_PATH
from tests.simulator.receiver import CallbackReceiver

pytestmark = pytest.mark.slow  # a real uvicorn server

PHONE = "254708374149"


@pytest.fixture
def running(receiver: CallbackReceiver) -> Iterator[RunningSimulator]:
    """A strict simulator (unknown fields refused) whose settings point at the receiver."""
    settings = Settings.for_simulator(
        stk_push_callback_url=receiver.url(STK_PATH),
        ipn_confirmation_url=receiver.url(CONFIRMATION_PATH),
        ipn_validation_url=receiver.url(VALIDATION_PATH),
    )
    config = SimulatorConfig(callback_delay=0.3, reject_unknown_fields=True, seed=3)
    with run_simulator(settings, config) as served:
        yield served


@pytest.fixture
def client(running: RunningSimulator) -> Iterator[DarajaClient]:
    with DarajaClient(running.settings) as daraja:
        yield daraja


def _final(client: DarajaClient, checkout_request_id: str) -> StkQueryResponse:
    deadline = time.monotonic() + 10
    while True:
        try:
            return client.stk_query(checkout_request_id)
        except DarajaAPIError as exc:
            if exc.classification is not DarajaErrorKind.STILL_PROCESSING:
                raise
            if time.monotonic() > deadline:
                raise AssertionError("the prompt stayed pending") from exc
            time.sleep(0.02)


# -- the blocking client ------------------------------------------------------------------


def test_token_is_one_the_simulator_issued(client: DarajaClient, running: RunningSimulator) -> None:
    token = client.get_token()

    assert running.simulator.store.token_valid(token, running.simulator.config.clock())


def test_stk_push_then_query_pending_then_final(
    client: DarajaClient, running: RunningSimulator, receiver: CallbackReceiver
) -> None:
    result = client.stk_push(PHONE, 10, "POL0012345", "Premium")

    with pytest.raises(DarajaAPIError) as pending:
        client.stk_query(result.checkout_request_id)
    assert pending.value.classification is DarajaErrorKind.STILL_PROCESSING

    final = _final(client, result.checkout_request_id)
    assert final.result_code == "0"
    assert final.status is StkPushStatus.COMPLETED
    assert final.merchant_request_id == result.merchant_request_id
    [callback] = receiver.wait_for(1, STK_PATH)
    assert callback.body["Body"]["stkCallback"]["CheckoutRequestID"] == (result.checkout_request_id)


def test_cancelled_prompt_reads_as_cancelled(client: DarajaClient) -> None:
    result = client.stk_push("254708371032", 10, "POL0012345")

    final = _final(client, result.checkout_request_id)

    assert final.result_code == "1032"
    assert final.status is StkPushStatus.CANCELLED


def test_busy_subscriber_is_classified(client: DarajaClient) -> None:
    client.stk_push(PHONE, 10, "POL0012345")

    with pytest.raises(DarajaAPIError) as busy:
        client.stk_push(PHONE, 10, "POL0012345")

    assert busy.value.classification is DarajaErrorKind.SUBSCRIBER_BUSY


def test_expired_token_is_refreshed_and_the_call_retried(
    client: DarajaClient, running: RunningSimulator
) -> None:
    result = client.stk_push(PHONE, 10, "POL0012345")
    running.simulator.expire_tokens()

    final = _final(client, result.checkout_request_id)

    assert final.result_code == "0"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_register_then_simulate_delivers_the_confirmation(
    client: DarajaClient,
    running: RunningSimulator,
    receiver: CallbackReceiver,
    version: str,
) -> None:
    registered = client.register_c2b_urls(version=version)

    assert registered.response_code == "0"
    assert registered.originator_conversation_id
    assert running.simulator.registrations()[running.simulator.short_code].confirmation_url == (
        receiver.url(CONFIRMATION_PATH)
    )

    simulated = client.c2b_simulate(750, PHONE, "POL0055512")

    assert simulated.response_code == "0"
    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)
    assert confirmation.body["BillRefNumber"] == "POL0055512"
    assert confirmation.body["TransAmount"] == "750.00"


def test_stk_payment_to_registered_paybill_gets_both_callbacks(
    client: DarajaClient, receiver: CallbackReceiver
) -> None:
    client.register_c2b_urls()
    client.stk_push(PHONE, 10, "POL0012345")

    [stk] = receiver.wait_for(1, STK_PATH)
    [confirmation] = receiver.wait_for(1, CONFIRMATION_PATH)

    items = {
        i["Name"]: i.get("Value")
        for i in stk.body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    }
    assert confirmation.body["TransID"] == items["MpesaReceiptNumber"]


# -- the async client -----------------------------------------------------------------------


async def test_async_client_runs_every_call(
    running: RunningSimulator, receiver: CallbackReceiver
) -> None:
    async with AsyncDarajaClient(running.settings) as daraja:
        assert await daraja.get_token()
        registered = await daraja.register_c2b_urls()
        assert registered.response_code == "0"

        result = await daraja.stk_push(PHONE, 10, "POL0012345", "Premium")
        with pytest.raises(DarajaAPIError) as pending:
            await daraja.stk_query(result.checkout_request_id)
        assert pending.value.classification is DarajaErrorKind.STILL_PROCESSING

        deliveries = await running.simulator.wait_for_deliveries_async(2)
        assert {d.kind for d in deliveries} == {"stk_callback", "c2b_confirmation"}
        final = await daraja.stk_query(result.checkout_request_id)
        assert final.status is StkPushStatus.COMPLETED

        simulated = await daraja.c2b_simulate(120, "254708374150", "POL0099881")
        assert simulated.response_code == "0"
        confirmations = await asyncio.to_thread(receiver.wait_for, 2, CONFIRMATION_PATH)
        assert confirmations[-1].body["BillRefNumber"] == "POL0099881"
