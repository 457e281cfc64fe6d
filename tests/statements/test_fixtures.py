"""The two fixture statements read with exact values."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from mpesa_daraja_kit.enums import Direction, EntryKind, StatementReasonType
from mpesa_daraja_kit.statements import StatementRow, open_statement
from tests.statements.conftest import FAMILY_A_CSV, FAMILY_B_CSV


def _rows(path: object) -> list[StatementRow]:
    with open_statement(path) as statement:  # type: ignore[arg-type]
        rows = list(statement.rows())
    assert all(isinstance(row, StatementRow) for row in rows)
    return rows  # type: ignore[return-value]


def test_family_a_fixture_is_family_a_csv_with_its_preamble() -> None:
    with open_statement(FAMILY_A_CSV, filename=FAMILY_A_CSV.name) as statement:
        assert (statement.family, statement.format) == ("A", "csv")
        assert statement.header_row_number == 7
        p = statement.preamble
    assert p.account_holder == "KARIBU MICRO INSURANCE LIMITED"
    assert p.short_code == "600123"
    assert p.account == "Utility Account"
    # 04-10-2025 00:00:00 .. 23:59:59 Kenyan time is 3 hours earlier in UTC
    assert p.period_from == datetime(2025, 10, 3, 21, 0, 0, tzinfo=UTC)
    assert p.period_to == datetime(2025, 10, 4, 20, 59, 59, tzinfo=UTC)
    assert p.operator == "jdoe"
    assert p.organization == "KARIBU MICRO INSURANCE LIMITED"
    assert p.report_date == datetime(2025, 10, 5, 5, 1, 13, tzinfo=UTC)
    assert p.opening_balance == Decimal("10000.00")
    assert p.closing_balance == Decimal("0.00")
    assert p.available_balance == Decimal("0.00")
    assert p.total_paid_in == Decimal("3500.00")
    assert p.total_withdrawn == Decimal("-13500.00")
    assert p.raw["Time Period"] == "From 04-10-2025 00:00:00 To 04-10-2025 23:59:59"


def test_family_a_fixture_rows_exact() -> None:
    sweep, charge1, pay1, charge2, pay2 = _rows(FAMILY_A_CSV)

    assert sweep.row_number == 8
    assert sweep.receipt == "TJ4F0L3MV6"
    assert sweep.completion_time == datetime(2025, 10, 4, 20, 55, 1, tzinfo=UTC)
    assert sweep.paid_in is None
    assert sweep.withdrawn == Decimal("-13465.00")
    assert sweep.balance == Decimal("0.00")
    assert (sweep.kind, sweep.direction) == (EntryKind.SWEEP, Direction.OUT)
    assert sweep.reason_type is StatementReasonType.Withdrawal

    assert pay1.receipt == charge1.receipt == "TJ4C9R5WD8"
    assert (
        pay1.completion_time
        == charge1.completion_time
        == datetime(2025, 10, 4, 10, 2, 10, tzinfo=UTC)
    )
    assert (pay1.kind, pay1.direction) == (EntryKind.RECEIVED, Direction.IN)
    assert pay1.paid_in == Decimal("2000.00")
    assert pay1.withdrawn is None
    assert pay1.balance == Decimal("13485.00")
    assert pay1.balance_confirmed is True
    assert pay1.account_number == "POL0012345"
    assert pay1.other_party_info == "25471****234 - JANE **** MWANGI"
    assert (pay1.msisdn_masked, pay1.party_name) == ("25471****234", "JANE **** MWANGI")
    assert pay1.reason_type is StatementReasonType.PayBill_STK
    assert pay1.entry_key == ""

    assert (charge1.kind, charge1.direction) == (EntryKind.CHARGE, Direction.OUT)
    assert charge1.withdrawn == Decimal("-20.00")
    assert charge1.other_party_info == "SP"
    assert charge1.account_number is None
    assert charge1.entry_key == "OUT|CHARGE|pay utility"

    assert pay2.receipt == charge2.receipt == "TJ4A7Q2ZK1"
    assert pay2.initiation_time == datetime(2025, 10, 4, 6, 15, 20, tzinfo=UTC)
    assert pay2.completion_time == datetime(2025, 10, 4, 6, 15, 22, tzinfo=UTC)
    assert pay2.account_number == "pol0099881"  # as typed; matching folds case later
    assert pay2.reason_type is StatementReasonType.Paybill_MobileApp
    assert charge2.kind is EntryKind.CHARGE
    assert charge2.withdrawn == Decimal("-15.00")
    assert charge2.row_number == 11 and pay2.row_number == 12


def test_family_b_fixture_parses_accounts_and_reasons_from_details() -> None:
    with open_statement(FAMILY_B_CSV, filename=FAMILY_B_CSV.name) as statement:
        assert (statement.family, statement.format) == ("B", "csv")
        assert statement.preamble.short_code == "600123"  # from the file name
        assert statement.preamble.period_from == datetime(2026, 9, 30, 21, 0, tzinfo=UTC)
        first, second = statement.rows()

    assert first.receipt == "UA1C9R5WD8"
    assert first.completion_time == datetime(2026, 10, 1, 10, 2, 10, tzinfo=UTC)
    assert first.initiation_time is None
    assert first.paid_in == Decimal("1100.00")
    assert first.withdrawn is None  # 0.00 means blank
    assert first.balance == Decimal("1600.00")
    assert first.account_number == "POL0077001"
    assert first.other_party_info == "2547****111 - ALICE WANJIRU"
    assert (first.msisdn_masked, first.party_name) == ("2547****111", "ALICE WANJIRU")
    assert first.reason_type_raw == "Pay Bill"
    assert first.reason_type is StatementReasonType.PayBill_STK
    assert first.kind is EntryKind.RECEIVED

    assert second.account_number == "pol0077002"
    assert second.reason_type_raw == "Pay Bill Online"
    assert second.reason_type is StatementReasonType.Paybill_MobileApp
    assert second.paid_in == Decimal("500.00")
    assert second.row_number == 3


def test_sha256_is_of_the_file_bytes() -> None:
    import hashlib

    data = FAMILY_A_CSV.read_bytes()
    with open_statement(data) as statement:
        assert statement.sha256 == hashlib.sha256(data).hexdigest()
        assert statement.size == len(data)
