"""Cell parsers: amounts, times, booleans and IDs in every form STATEMENTS.md lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpesa_daraja_kit.errors import InvalidAmount, InvalidTimestamp
from mpesa_daraja_kit.statements import amount_cell, bool_cell, id_cell, time_cell

EAT = timedelta(hours=3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1500.00", Decimal("1500.00")),
        ("1,234.00", Decimal("1234.00")),
        ("1,234,567.5", Decimal("1234567.50")),
        ("-13,465.00", Decimal("-13465.00")),
        ("(60.00)", Decimal("-60.00")),
        ("KES 60.00", Decimal("60.00")),
        ("Ksh. 1,000", Decimal("1000.00")),
        ("KES (60.00)", Decimal("-60.00")),
        (" 20 ", Decimal("20.00")),
        ("", None),
        ("   ", None),
    ],
)
def test_amount_text_forms(text: str, expected: Decimal | None) -> None:
    assert amount_cell(text, field="Paid In") == expected


def test_zero_is_blank_only_when_asked() -> None:
    assert amount_cell("0.00", field="Withdrawn", zero_is_blank=True) is None
    assert amount_cell("0.00", field="Balance") == Decimal("0.00")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(1500.0, Decimal("1500.00")), (13465.5, Decimal("13465.50")), (-20, Decimal("-20.00")),
     (0.1 + 0.2, Decimal("0.30"))],
)  # fmt: skip
def test_amount_number_cells(cell: float, expected: Decimal) -> None:
    assert amount_cell(cell, field="Balance") == expected


@pytest.mark.parametrize(
    "text", ["12x.50", "1.234", "--5", "(60.00", "1,23.00", "abc", "1e3", "NaN", "٣٣"]
)
def test_amount_garbage_is_refused_with_the_field_name(text: str) -> None:
    with pytest.raises(InvalidAmount, match="Paid In"):
        amount_cell(text, field="Paid In")


def test_amount_refuses_booleans_and_dates() -> None:
    with pytest.raises(InvalidAmount):
        amount_cell(True, field="Paid In")
    with pytest.raises(InvalidAmount):
        amount_cell(datetime(2025, 1, 1), field="Paid In")


amounts = st.decimals(min_value=Decimal("-9999999.99"), max_value=Decimal("9999999.99"), places=2)


@given(amounts)
def test_amount_every_written_form_round_trips(value: Decimal) -> None:
    body = f"{abs(value):.2f}"
    grouped = f"{abs(value):,.2f}"
    sign = "-" if value < 0 else ""
    forms = [f"{sign}{body}", f"{sign}{grouped}", f"KES {sign}{grouped}"]
    if value < 0:
        forms += [f"({body})", f"({grouped})", f"KES ({grouped})"]
    for form in forms:
        assert amount_cell(form, field="x") == value, form
    assert amount_cell(float(body) * (-1 if value < 0 else 1), field="x") == value


@given(st.text(max_size=12))
def test_amount_never_raises_anything_but_invalid_amount(text: str) -> None:
    try:
        result = amount_cell(text, field="x")
    except InvalidAmount:
        return
    assert result is None or result == result.quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    "text",
    [
        "04-10-2025 13:02:10",
        "04/10/2025 13:02:10",
        "4/10/2025 13:02:10",
        " 04-10-2025  13:02:10 ",
        "2025-10-04 13:02:10",
        "04/10/2025 01:02:10 PM",
    ],
)
def test_time_text_forms_day_first_kenyan(text: str) -> None:
    assert time_cell(text, field="Completion Time") == datetime(2025, 10, 4, 10, 2, 10, tzinfo=UTC)


def test_time_without_seconds() -> None:
    assert time_cell("04/10/2025 13:02", field="t") == datetime(2025, 10, 4, 10, 2, tzinfo=UTC)


def test_time_day_first_is_not_month_first() -> None:
    assert time_cell("01-02-2025 00:00:00", field="t").month == 1  # 1 Feb Kenyan = 31 Jan UTC
    assert time_cell("01-02-2025 03:00:00", field="t") == datetime(2025, 2, 1, tzinfo=UTC)


def test_time_date_cells_are_kenyan_wall_clock() -> None:
    assert time_cell(datetime(2025, 10, 4, 13, 2, 10), field="t") == datetime(
        2025, 10, 4, 10, 2, 10, tzinfo=UTC
    )
    assert time_cell(date(2025, 10, 4), field="t") == datetime(2025, 10, 3, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "cell", ["31-02-2025 10:00:00", "04-10-2025 25:00:00", "yesterday", "", "04-10-2025", 45934.5]
)
def test_time_garbage_and_bare_serials_are_refused(cell: object) -> None:
    with pytest.raises(InvalidTimestamp, match="Completion Time"):
        time_cell(cell, field="Completion Time")


def test_time_serial_message_says_why() -> None:
    with pytest.raises(InvalidTimestamp, match="not formatted as a date"):
        time_cell(45934.5, field="Completion Time")


kenyan_times = st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2039, 12, 31))


@given(kenyan_times, st.sampled_from(["-", "/"]), st.booleans())
def test_time_text_round_trips(local: datetime, sep: str, seconds: bool) -> None:
    local = local.replace(microsecond=0) if seconds else local.replace(second=0, microsecond=0)
    text = local.strftime(f"%d{sep}%m{sep}%Y %H:%M" + (":%S" if seconds else ""))
    parsed = time_cell(text, field="t")
    assert parsed == (local - EAT).replace(tzinfo=UTC)
    assert time_cell(local, field="t") == parsed  # the same time as a date cell


@given(st.text(max_size=25))
def test_time_never_raises_anything_but_invalid_timestamp(text: str) -> None:
    try:
        parsed = time_cell(text, field="t")
    except InvalidTimestamp:
        return
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("true", True), ("TRUE", True), (True, True), ("false", False), (False, False), ("", None),
     ("maybe", None)],
)  # fmt: skip
def test_balance_confirmed(cell: object, expected: bool | None) -> None:
    assert bool_cell(cell) is expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(850060.0, "850060"), (850060, "850060"), ("850060.0", "850060"), ("POL 001", "POL 001"),
     (" pol0099881 ", " pol0099881 "), ("", None), ("  ", None), (None, None), (12.5, "12.5")],
)  # fmt: skip
def test_ids_never_keep_a_float_suffix(cell: object, expected: str | None) -> None:
    assert id_cell(cell) == expected
