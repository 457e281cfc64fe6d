"""Every Daraja fixture parses; outbound ones unparse back to the same JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mpesa_daraja_kit.wire import (
    C2BPayment,
    C2BRegisterResponse,
    DarajaErrorBody,
    OAuthToken,
    StkCallback,
    StkPushRequest,
    StkPushResponse,
    StkQueryResponse,
    structure,
    unstructure,
)

DARAJA = Path(__file__).parents[1] / "fixtures" / "daraja"

# fixture name prefix → the class that reads it
KINDS: list[tuple[str, type]] = [
    ("c2b_confirmation_", C2BPayment),
    ("c2b_validation", C2BPayment),
    ("c2b_register_ok", C2BRegisterResponse),
    ("oauth_ok", OAuthToken),
    ("oauth_bad_credentials", DarajaErrorBody),
    ("stk_callback_", StkCallback),
    ("stk_push_error_", DarajaErrorBody),
    ("stk_push_request", StkPushRequest),
    ("stk_push_response_", StkPushResponse),
    ("stk_query_final_", StkQueryResponse),
    ("stk_query_pending", DarajaErrorBody),
]
OUTBOUND = {StkPushRequest}


def _kind(name: str) -> type:
    matches = [cls for prefix, cls in KINDS if name.startswith(prefix)]
    assert len(matches) == 1, f"no single class for fixture {name}"
    return matches[0]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes(), parse_float=Decimal)
    return data


FILES = sorted(DARAJA.glob("*.json"))


def test_there_are_fixtures_to_check() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_fixture_parses(path: Path) -> None:
    cls = _kind(path.stem)
    parsed = structure(path.read_bytes(), cls)
    assert isinstance(parsed, cls)


OUTBOUND_FILES = [path for path in FILES if _kind(path.stem) in OUTBOUND]


def test_there_are_outbound_fixtures() -> None:
    assert OUTBOUND_FILES


@pytest.mark.parametrize("path", OUTBOUND_FILES, ids=lambda p: p.stem)
def test_outbound_fixtures_unparse_to_the_same_json(path: Path) -> None:
    cls = _kind(path.stem)
    assert unstructure(structure(path.read_bytes(), cls)) == _load(path)


def test_stk_push_request_fixture_reads_with_python_names() -> None:
    request = structure((DARAJA / "stk_push_request.json").read_bytes(), StkPushRequest)
    assert request.callback_url.endswith("/stk-push/callback")
    assert request.amount == 1
    assert request.party_a == request.phone_number == "254708374149"
    assert "MTc0" not in repr(request)  # the password reveals the passkey: hidden


def test_success_callback_is_fully_typed() -> None:
    callback = structure((DARAJA / "stk_callback_success.json").read_bytes(), StkCallback)
    assert callback.succeeded
    assert callback.result_code == "0"
    assert callback.amount == Decimal("1.00")
    assert isinstance(callback.amount, Decimal)
    assert callback.receipt_number == "SGA7RT61SV"
    assert callback.transaction_date is not None
    assert callback.transaction_date.isoformat() == "2024-07-10T07:16:03+00:00"
    assert callback.phone_number == "254708374149"
    assert callback.balance is None  # the Balance item has no Value


def test_cancelled_callback_has_no_metadata() -> None:
    callback = structure((DARAJA / "stk_callback_cancelled.json").read_bytes(), StkCallback)
    assert not callback.succeeded
    assert callback.result_code == "1032"
    assert (callback.amount, callback.receipt_number, callback.transaction_date) == (None,) * 3


def test_register_answer_reads_the_misspelled_key() -> None:
    answer = structure((DARAJA / "c2b_register_ok.json").read_bytes(), C2BRegisterResponse)
    assert answer.originator_conversation_id == "7619-37765134-1"


def test_oauth_expires_in_text_becomes_seconds() -> None:
    token = structure((DARAJA / "oauth_ok.json").read_bytes(), OAuthToken)
    assert token.expires_in == 3599
    assert token.access_token not in repr(token)


def test_query_result_code_stays_text() -> None:
    answer = structure((DARAJA / "stk_query_final_cancelled.json").read_bytes(), StkQueryResponse)
    assert answer.result_code == "1032"
    assert answer.status is not None
    assert answer.status.value == "CANCELLED"


def test_null_c2b_values_become_empty_text() -> None:
    payment = structure((DARAJA / "c2b_confirmation_plain_msisdn.json").read_bytes(), C2BPayment)
    assert payment.invoice_number == ""
    assert payment.third_party_trans_id == ""
    assert payment.bill_ref_number == " pol0099881 "  # kept as sent; compared trimmed elsewhere
