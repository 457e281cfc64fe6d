"""Row classification and the splitting of Other Party Info / family B Details."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mpesa_daraja_kit.enums import Direction, EntryKind, StatementReasonType
from mpesa_daraja_kit.statements import StatementRow, classify, split_details, split_party
from tests.statements.conftest import FAMILY_A_CSV, read_all

D = Decimal
HEADER = FAMILY_A_CSV.read_bytes().split(b"\r\n")[:7]


def _rows(*lines: str) -> list[StatementRow]:
    data = b"\r\n".join([*HEADER, *(line.encode() for line in lines)]) + b"\r\n"
    rows = read_all(data)
    assert all(isinstance(r, StatementRow) for r in rows)
    return rows  # type: ignore[return-value]


def _line(receipt: str, details: str, paid: str, withdrawn: str, reason: str, party: str,
          status: str = "Completed", account: str = "") -> str:  # fmt: skip
    t = "04-10-2025 09:15:22"
    return f"{receipt},{t},{t},{details},{status},{paid},{withdrawn},100.00,true,{reason},{party},,{account}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("Completed", D(100), None, "Pay Utility", "Pay Bill from x", "2547**1 - A"), "RECEIVED"),
        (("completed ", D(100), None, "Pay Utility", "x", None), "RECEIVED"),
        (("Failed", D(100), None, "Pay Utility", "x", None), "NOT_COMPLETED"),
        (("Completed", None, D(-20), "Pay Utility", "Pay Bill Charge", "SP"), "CHARGE"),
        (("Completed", None, D(-5), "Pay Bill Online", "Something", "SP"), "CHARGE"),
        (("Completed", None, D(-900), "Utility Account to Organization Settlement Account",
          "Utility Account to Organization Settlement Account", None), "SWEEP"),
        (("Completed", D(900), None, "Organization Settlement Account to Utility Account",
          "x", None), "SWEEP"),
        (("Completed", None, D(-900), "Unmapped Thing", "Withdraw Funds to Bank", None), "SWEEP"),
        (("Completed", None, D(-900), "Business Payment to Customer via API", "x", "2547 - B"),
         "OTHER"),
        (("Completed", None, None, "Pay Utility", "x", None), "OTHER"),
        (("Completed", D(100), None, "Business Pay Bill", "Business Pay Bill from 600100", None),
         "RECEIVED"),
    ],
)  # fmt: skip
def test_classify(args: tuple, expected: str) -> None:  # type: ignore[type-arg]
    kind, _ = classify(*args)
    assert kind.value == expected


def test_direction_follows_the_money() -> None:
    assert classify("Completed", D(1), None, "", "", None)[1] is Direction.IN
    assert classify("Completed", None, D(-1), "", "", None)[1] is Direction.OUT
    assert classify("Failed", None, D(-1), "", "", None) == (EntryKind.NOT_COMPLETED, Direction.OUT)


def test_in_out_pair_under_one_receipt_is_an_internal_transfer() -> None:
    own = "600123 - KARIBU MICRO INSURANCE LIMITED"
    rows = _rows(
        _line("TJ4PAIR001", "Funds Transfer", "500.00", "", "Org Funds Transfer", own),
        _line("TJ4PAIR001", "Funds Transfer", "", "-500.00", "Org Funds Transfer", own),
        _line("TJ4PAY0001", "Pay Bill from 2547****1 - A", "500.00", "", "Pay Utility",
              "25471****234 - JANE DOE", account="POL1"),
        _line("TJ4PAY0001", "Pay Bill Charge", "", "-5.00", "Pay Utility", "SP"),
    )  # fmt: skip
    assert [r.kind for r in rows] == [
        EntryKind.SWEEP,
        EntryKind.SWEEP,
        EntryKind.RECEIVED,
        EntryKind.CHARGE,
    ]
    assert rows[0].entry_key != rows[1].entry_key  # both legs keep distinct identities


def test_unequal_legs_are_not_a_pair() -> None:
    rows = _rows(
        _line("TJ4PAIR002", "Funds in", "500.00", "", "Org Funds Transfer", "600100 - ACME"),
        _line("TJ4PAIR002", "Funds out", "", "-400.00", "Org Funds Transfer", "600100 - ACME"),
    )
    assert [r.kind for r in rows] == [EntryKind.RECEIVED, EntryKind.OTHER]


def test_business_payer_and_unknown_reason_are_money_received_unmapped() -> None:
    (row,) = _rows(_line("TJ4BIZ0001", "Business Pay Bill from 600100 - ACME SACCO LTD Acc. 1",
                         "1000.00", "", "Business Pay Bill", "600100 - ACME SACCO LTD", account="1"))  # fmt: skip
    assert row.kind is EntryKind.RECEIVED
    assert row.reason_type is StatementReasonType.Unmapped
    assert (row.msisdn_masked, row.party_name) == (None, "ACME SACCO LTD")


def test_not_completed_payments_are_kept_but_not_received() -> None:
    (row,) = _rows(_line("TJ4NC00001", "Pay Bill from x", "100.00", "", "Pay Utility", "SP",
                         status="Failed"))  # fmt: skip
    assert row.kind is EntryKind.NOT_COMPLETED and row.entry_key.startswith("IN|NOT_COMPLETED")


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ("25472****108 - JOHN **** DOE", ("25472****108", "JOHN **** DOE")),
        ("254722000111 - MARY KAMAU", ("254722000111", "MARY KAMAU")),
        ("2547 ***** 126 - PETER", ("2547 ***** 126", "PETER")),
        ("600100 - ACME LTD", (None, "ACME LTD")),
        ("SP", (None, None)),
        (None, (None, None)),
        ("", (None, None)),
    ],
)
def test_split_party(info: str | None, expected: tuple[str | None, str | None]) -> None:
    assert split_party(info) == expected


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ("Pay Bill from 2547****111 - ALICE WANJIRU Acc. POL0077001",
         ("Pay Bill", "2547****111 - ALICE WANJIRU", "POL0077001")),
        ("Pay Bill Online from 2541****904 - BRIAN OTIENO Acc. pol 77002",
         ("Pay Bill Online", "2541****904 - BRIAN OTIENO", "pol 77002")),
        ("Pay Bill from 2547****111 - A\nAcc. X1", ("Pay Bill", "2547****111 - A", "X1")),
        ("Pay Bill from 2547****111 - A Acc.", ("Pay Bill", "2547****111 - A", None)),
        ("Pay Bill Charge", ("Pay Bill Charge", None, None)),
        ("Funds from 600123 - KARIBU", ("Funds", "600123 - KARIBU", None)),
    ],
)  # fmt: skip
def test_split_details(details: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_details(details) == expected
