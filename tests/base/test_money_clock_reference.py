"""Amounts, Daraja times and account references."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpesa_daraja_kit.clock import format_daraja_timestamp, parse_daraja_timestamp
from mpesa_daraja_kit.errors import (
    InvalidAccountReference,
    InvalidAmount,
    InvalidTimestamp,
)
from mpesa_daraja_kit.money import format_amount, parse_amount, whole_shillings
from mpesa_daraja_kit.reference import account_key, validate_stk_account_reference

cents = st.integers(min_value=0, max_value=999_999_999_999)  # up to MAX_AMOUNT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.00", "1.00"),
        (1, "1.00"),
        (1.0, "1.00"),
        ("250000", "250000.00"),
        (Decimal("1.5"), "1.50"),
        (" 2500.00 ", "2500.00"),
        (249999.99, "249999.99"),
    ],
)
def test_daraja_amount_forms_parse_exactly(raw: object, expected: str) -> None:
    assert parse_amount(raw) == Decimal(expected)
    assert str(parse_amount(raw)) == expected


@given(cents)
def test_amount_text_round_trips_exactly(value: int) -> None:
    amount = Decimal(value) / 100
    text = format_amount(amount)
    assert parse_amount(text) == amount
    assert parse_amount(text) == parse_amount(Decimal(text))


@pytest.mark.parametrize(
    "raw", ["abc", "1.005", "NaN", "Infinity", True, [], "-5", "10000000000.00", "1e400"]
)
def test_bad_amounts_are_refused(raw: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(raw)


def test_negative_and_blank_only_when_asked() -> None:
    assert parse_amount("-20.00", allow_negative=True) == Decimal("-20.00")
    assert parse_amount("", allow_blank=True) is None
    with pytest.raises(InvalidAmount, match="missing"):
        parse_amount("")


def test_whole_shillings() -> None:
    assert whole_shillings(Decimal("100.00")) == 100
    with pytest.raises(InvalidAmount, match="whole shillings"):
        whole_shillings(Decimal("1.50"))


def test_daraja_time_is_kenyan_local_time() -> None:
    assert parse_daraja_timestamp("20240710101603") == datetime(2024, 7, 10, 7, 16, 3, tzinfo=UTC)
    assert parse_daraja_timestamp(20240710101603) == datetime(2024, 7, 10, 7, 16, 3, tzinfo=UTC)
    assert format_daraja_timestamp(datetime(2024, 7, 10, 22, 0, 0, tzinfo=UTC)) == "20240711010000"


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    )
)
def test_time_round_trips_to_the_second(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert parse_daraja_timestamp(format_daraja_timestamp(moment)) == moment


@pytest.mark.parametrize(
    "raw", ["", "2024-07-10", "20241301101603", "20240230101603", "2024071010160", "x" * 14, 1.5]
)
def test_malformed_times_are_errors_never_now(raw: object) -> None:
    with pytest.raises(InvalidTimestamp):
        parse_daraja_timestamp(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_formatting_ignores_the_process_time_zone(tz: str) -> None:
    code = (
        "from datetime import datetime, UTC;"
        "from mpesa_daraja_kit.clock import format_daraja_timestamp as f;"
        "print(f(datetime(2024, 7, 10, 7, 16, 3, tzinfo=UTC)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TZ": tz},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "20240710101603"


def test_account_references_compare_trimmed_and_case_insensitively() -> None:
    assert account_key(" pol0099881 ") == account_key("POL0099881")
    assert validate_stk_account_reference(" POL0012345 ") == "POL0012345"


@pytest.mark.parametrize("bad", ["", "POL0012345678", "POL-001", "pol 01"])
def test_stk_account_reference_rules(bad: str) -> None:
    with pytest.raises(InvalidAccountReference):
        validate_stk_account_reference(bad)


@given(st.text(max_size=20), st.sampled_from(["", " ", "  \t"]), st.sampled_from(["", " ", "\n"]))
def test_account_key_ignores_padding_and_case(reference: str, left: str, right: str) -> None:
    key = account_key(left + reference + right)
    assert key == account_key(reference.strip().lower())
    assert key == account_key(key)  # idempotent
    assert key == key.strip()
