"""Callback delivery: bounded retries, timeouts, records, and never holding up the API."""

from __future__ import annotations

import pytest

from mpesa_daraja_kit.simulator import RetryPolicy
from tests.simulator.conftest import STK_PATH, MakeDaraja
from tests.simulator.raw import RawDaraja
from tests.simulator.receiver import CallbackReceiver


def test_default_is_one_attempt_even_when_the_receiver_fails(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    receiver.answer(STK_PATH, status=500, body="down")
    daraja.stk_push_ok()

    [attempt] = daraja.sim.wait_for_deliveries(1)
    daraja.final_query(daraja.sim.transactions()[0].checkout_request_id)

    assert attempt.status_code == 500
    assert not attempt.ok
    assert len(receiver.received(STK_PATH)) == 1


def test_retry_policy_bounds_the_attempts(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja(retry=RetryPolicy(attempts=3, backoff=0.01))
    receiver.answer(STK_PATH, status=503, body="busy")
    daraja.stk_push_ok()

    attempts = daraja.sim.wait_for_deliveries(3)

    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [a.status_code for a in attempts] == [503, 503, 503]
    assert attempts[0].body == attempts[2].body


def test_successful_attempt_ends_the_retries(
    make_daraja: MakeDaraja, receiver: CallbackReceiver
) -> None:
    daraja = make_daraja(retry=RetryPolicy(attempts=3, backoff=0.01))
    daraja.stk_push_ok()
    receiver.wait_for(1, STK_PATH)
    daraja.sim.queue_outcome("cancelled")
    daraja.stk_push_ok(PhoneNumber="254708374150", PartyA="254708374150")

    receiver.wait_for(2, STK_PATH)

    assert [a.attempt for a in daraja.sim.wait_for_deliveries(2)] == [1, 1]


def test_unreachable_receiver_is_recorded_with_the_error(daraja: RawDaraja) -> None:
    daraja.stk_push_ok(CallBackURL="http://127.0.0.1:9/unreachable")

    [attempt] = daraja.sim.wait_for_deliveries(1)

    assert attempt.status_code is None
    assert attempt.error is not None


def test_slow_receiver_times_out(make_daraja: MakeDaraja, receiver: CallbackReceiver) -> None:
    daraja = make_daraja(retry=RetryPolicy(timeout=0.2))
    receiver.answer(STK_PATH, latency=30)
    daraja.stk_push_ok()

    [attempt] = daraja.sim.wait_for_deliveries(1)

    assert attempt.status_code is None
    assert attempt.error == "no answer within 0.2 s"


def test_api_answers_without_waiting_for_the_callback(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    receiver.answer(STK_PATH, latency=30)

    answer = daraja.stk_push_ok()

    assert answer["ResponseCode"] == "0"
    receiver.wait_for(1, STK_PATH)  # the callback is being delivered…
    assert daraja.sim.deliveries() == []  # …and has not been answered yet


def test_control_endpoint_lists_deliveries_with_their_answers(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.stk_push_ok()
    daraja.sim.wait_for_deliveries(1)

    listed = daraja.http.get("/simulator/callbacks").json()["callbacks"]
    only_stk = daraja.http.get("/simulator/callbacks", params={"kind": "stk_callback"}).json()

    [entry] = listed
    assert entry["kind"] == "stk_callback"
    assert entry["status_code"] == 200
    assert entry["ok"] is True
    assert entry["answer"] == '{"ResultCode":0,"ResultDesc":"Accepted"}'
    assert entry["url"] == receiver.url(STK_PATH)
    assert entry["body"]["Body"]["stkCallback"]["ResultCode"] == 0
    assert only_stk["callbacks"] == listed
    assert daraja.http.get("/simulator/callbacks", params={"kind": "x"}).status_code == 400


def test_reset_forgets_everything_but_tokens(daraja: RawDaraja, receiver: CallbackReceiver) -> None:
    daraja.register()
    daraja.stk_push_ok()
    daraja.sim.wait_for_deliveries(2)
    daraja.queue(outcome="cancelled")

    assert daraja.http.post("/simulator/reset").status_code == 200

    state = daraja.http.get("/simulator/transactions").json()
    assert state == {"stk": [], "c2b": []}
    assert daraja.http.get("/simulator/callbacks").json() == {"callbacks": []}
    assert daraja.http.get("/simulator/registrations").json() == {}
    assert daraja.http.get("/simulator/next-outcome").json() == {"queue": []}
    assert daraja.stk_push().status_code == 200  # the token still works


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "paid"},
        {"outcom": "cancelled"},
        {"delay": "soon"},
        {"callback": "sometimes"},
        {"delay": -1},
        ["cancelled"],
    ],
)
def test_bad_queue_requests_say_what_is_wrong(daraja: RawDaraja, body: object) -> None:
    response = daraja.http.post("/simulator/next-outcome", json=body)

    assert response.status_code == 400
    assert response.json()["error"]


def test_transactions_endpoint_shows_prompts_and_payments(
    daraja: RawDaraja, receiver: CallbackReceiver
) -> None:
    daraja.register()
    answer = daraja.stk_push_ok()
    daraja.sim.wait_for_deliveries(2)

    state = daraja.http.get("/simulator/transactions").json()

    [prompt] = state["stk"]
    [payment] = state["c2b"]
    assert prompt["checkout_request_id"] == answer["CheckoutRequestID"]
    assert prompt["status"] == "finished"
    assert prompt["result_code"] == 0
    assert payment["trans_id"] == prompt["receipt_number"]
    assert payment["checkout_request_id"] == answer["CheckoutRequestID"]
