"""Identifiers, outgoing payload pieces and the outcome rule."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from mpesa_daraja_kit.clock import KENYA_TZ
from mpesa_daraja_kit.simulator import Outcome, OutcomeSpec, outcome_for_phone
from mpesa_daraja_kit.simulator.payloads import IdFactory, dumps_daraja, masked_msisdn


@pytest.mark.parametrize(
    ("when", "prefix"),
    [
        (datetime(2024, 7, 10, 10, 16, 3, tzinfo=KENYA_TZ), "SGA"),  # SGA7RT61SV
        (datetime(2017, 1, 1, 0, 0, tzinfo=KENYA_TZ), "LA1"),
        (datetime(2025, 12, 31, 23, 59, tzinfo=KENYA_TZ), "TLV"),
        (datetime(2026, 10, 9, 12, 0, tzinfo=KENYA_TZ), "UJ9"),
    ],
)
def test_receipt_numbers_follow_the_real_format(when: datetime, prefix: str) -> None:
    receipt = IdFactory(seed=1).receipt_number(when)

    assert re.fullmatch(rf"{prefix}[A-Z0-9]{{7}}", receipt)


def test_receipt_letters_use_kenyan_dates() -> None:
    # 22:30 UTC on 9 October is already 10 October in Nairobi.
    when = datetime(2026, 10, 9, 22, 30, tzinfo=UTC)

    assert IdFactory().receipt_number(when).startswith("UJA")


def test_seeded_factories_repeat_themselves() -> None:
    when = datetime(2024, 7, 10, 10, 16, 3, tzinfo=KENYA_TZ)

    assert IdFactory(seed=5).receipt_number(when) == IdFactory(seed=5).receipt_number(when)


def test_checkout_request_id_carries_kenyan_time_and_phone() -> None:
    when = datetime(2022, 10, 13, 16, 4, 44, 963000, tzinfo=KENYA_TZ)

    checkout = IdFactory().checkout_request_id(when, "254706803305")

    assert checkout == "ws_CO_13102022160444963706803305"  # as in the cancelled fixture


def test_masked_msisdn_matches_the_real_mask() -> None:
    assert masked_msisdn("254722000126") == "2547 ***** 126"


def test_decimals_are_written_exactly() -> None:
    text = dumps_daraja({"Value": Decimal("1.00"), "Other": [Decimal("500"), "x"]})

    assert text == b'{"Value":1.00,"Other":[500,"x"]}'
    assert json.loads(text, parse_float=Decimal)["Value"] == Decimal("1.00")


@pytest.mark.parametrize(
    ("phone", "outcome"),
    [
        ("254708374149", None),
        ("254700001032", Outcome.CANCELLED),
        ("254700001037", Outcome.TIMEOUT),
        ("254700001019", Outcome.EXPIRED),
        ("254700000001", Outcome.INSUFFICIENT_FUNDS),
        ("254700002001", Outcome.WRONG_PIN),
        ("254700002028", Outcome.NOT_PERMITTED),
    ],
)
def test_phone_rule(phone: str, outcome: Outcome | None) -> None:
    assert outcome_for_phone(phone) is outcome


def test_outcome_spec_from_json_reads_every_option() -> None:
    spec = OutcomeSpec.from_json(
        {
            "outcome": "cancelled",
            "delay": 2,
            "callback": "twice",
            "callback_delay": 1.5,
            "c2b_confirmation": False,
            "c2b_first": True,
            "phone_number": 254708374149,
            "api": "stk",
        }
    )

    assert spec.outcome is Outcome.CANCELLED
    assert spec.delay == 2.0
    assert spec.callback_delay == 1.5
    assert spec.phone_number == "254708374149"
    assert spec.to_dict()["callback"] == "twice"
