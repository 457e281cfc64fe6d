"""The sample host end to end over real HTTP: operator API → kit → simulator → callback → policy."""

from __future__ import annotations

import pytest

from tests.sample_host.support import AUTH, RunningHost
from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_starts_with_seeded_unpaid_policies(running: RunningHost) -> None:
    policy = running.policy("POL0012345")
    assert policy["paid"] is False
    assert policy["premium"] == "1500.00"
    assert running.premiums() == []


def test_stk_push_for_a_seeded_policy_marks_it_paid(running: RunningHost) -> None:
    response = running.initiate("POL0012345", "0708374149", 1500)
    assert response.status_code == 201, response.text
    final = running.settled(response.json()["id"])
    assert final["status"] == "COMPLETED"
    receipt = final["mpesaReceiptNumber"]

    wait_until(lambda: running.policy("POL0012345")["paid"], timeout=15)
    (premium,) = running.premiums()
    assert premium["receiptNumber"] == receipt
    assert premium["amount"] == "1500.00"
    assert premium["policyNumber"] == "MTR-24-0012"
    assert premium["stkPushRequestId"] == final["id"]
    assert running.policy("POL0099881")["paid"] is False


def test_part_payment_leaves_the_policy_due(running: RunningHost) -> None:
    response = running.initiate("POL0099881", "0712345678", 1000)
    assert running.settled(response.json()["id"])["status"] == "COMPLETED"
    wait_until(lambda: running.policy("POL0099881")["received"] == "1000.00", timeout=15)
    assert running.policy("POL0099881")["paid"] is False


@pytest.mark.parametrize(
    ("outcome", "status"), [("cancelled", "CANCELLED"), ("timeout", "EXPIRED")]
)
def test_unpaid_prompts_record_nothing(running: RunningHost, outcome: str, status: str) -> None:
    queued = running.http.post(
        "/api/simulator/stk-outcome",
        json={"outcome": outcome, "phoneNumber": "0722000111"},
        headers=AUTH,
    )
    assert queued.status_code == 200, queued.text
    response = running.initiate("POL0054321", "0722000111", 800)
    assert response.status_code == 201, response.text
    final = running.settled(response.json()["id"])
    assert final["status"] == status
    assert final["mpesaReceiptNumber"] is None
    assert running.premiums() == []
    assert running.policy("POL0054321")["paid"] is False


def test_c2b_payment_by_account_number_records_the_premium(running: RunningHost) -> None:
    if not running.has_route("public", "/confirmation"):
        pytest.skip("the kit has no C2B confirmation route yet")
    answer = running.http.post(
        "/api/simulator/c2b-payment",
        json={"accountReference": "pol0077001", "phoneNumber": "0733444555", "amount": 350},
        headers=AUTH,
    )
    assert answer.status_code == 202, answer.text
    wait_until(lambda: running.policy("POL0077001")["paid"], timeout=15)
    (premium,) = running.premiums()
    assert (premium["source"], premium["amount"]) == ("IPN", "350.00")


def test_errors_the_operator_sees(running: RunningHost) -> None:
    unknown = running.initiate("POL0000000", "0708374149", 100)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_account"
    bad_phone = running.initiate("POL0012345", "12345", 100)
    assert bad_phone.status_code == 400
    assert bad_phone.json()["error"]["code"] == "invalid_phone_number"


def test_statement_upload_fills_the_gaps(running: RunningHost) -> None:
    if not running.has_route("internal", "/statements"):
        pytest.skip("the kit has no statement upload route yet")
    paid = running.initiate("POL0012345", "0708374149", 1500)
    assert running.settled(paid.json()["id"])["status"] == "COMPLETED"
    wait_until(lambda: len(running.premiums()) == 1, timeout=15)

    sample = running.http.get("/api/sample-statement.csv", headers=AUTH)
    assert sample.status_code == 200
    upload = running.http.post(
        "/api/internal/mpesa/statements",
        files={"file": ("statement.csv", sample.content, "text/csv")},
        headers=AUTH,
    )
    assert upload.status_code == 201, upload.text
    stats = upload.json()
    assert stats["totalStatementItems"] == 4
    assert stats["gapsFilled"] == 3
    assert stats["failedItems"] == []

    wait_until(
        lambda: all(running.policy(a)["paid"] for a in ("POL0099881", "POL0054321", "POL0077001")),
        timeout=15,
    )
    premiums = running.premiums()
    # The STK payment is on the statement too: confirmed, never counted twice.
    assert sorted(p["source"] for p in premiums) == [
        "STATEMENT",
        "STATEMENT",
        "STATEMENT",
        "STK_CALLBACK",
    ]
    assert running.policy("POL0012345")["received"] == "1500.00"


def test_the_same_statement_twice_adds_nothing(running: RunningHost) -> None:
    if not running.has_route("internal", "/statements"):
        pytest.skip("the kit has no statement upload route yet")
    sample = running.http.get("/api/sample-statement.csv", headers=AUTH).content
    for _ in range(2):
        upload = running.http.post(
            "/api/internal/mpesa/statements",
            files={"file": ("statement.csv", sample, "text/csv")},
            headers=AUTH,
        )
        assert upload.status_code in (200, 201), upload.text
    wait_until(lambda: len(running.premiums()) == 4, timeout=15)
    assert len({p["receiptNumber"] for p in running.premiums()}) == 4
