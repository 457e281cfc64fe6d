"""Header, encoding and sheet variations, and the C2B confirmations the generator pairs."""

from __future__ import annotations

import io
from decimal import Decimal

from mpesa_daraja_kit.clock import parse_daraja_timestamp
from mpesa_daraja_kit.enums import EntryKind
from mpesa_daraja_kit.phone import is_hashed_msisdn
from mpesa_daraja_kit.reference import account_key
from mpesa_daraja_kit.statements import StatementRow, open_statement
from tests.statements.conftest import FAMILY_A_CSV, build, read_all
from tests.statements.generator import (
    Quirk,
    StatementSpec,
    c2b_confirmations,
    generate_rows,
    receipt_number,
)

FIXTURE = FAMILY_A_CSV.read_bytes()


def test_header_names_ignore_case_spacing_and_order() -> None:
    lines = FIXTURE.split(b"\r\n")
    header = b"receipt no ,A/C NO.,  completion   time,Initiation Time,Details,TRANSACTION STATUS,"
    header += b"Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID"
    row = b"TJ4X,POL1,04-10-2025 09:15:22,04-10-2025 09:15:20,Pay Bill from x,Completed,"
    row += b"1.00,,1.00,true,Pay Utility,25479****567 - P,"
    (parsed,) = read_all(b"\r\n".join([*lines[:6], header, row]))
    assert isinstance(parsed, StatementRow)
    assert parsed.account_number == "POL1" and parsed.kind is EntryKind.RECEIVED


def test_semicolon_separated_csv_from_a_european_excel() -> None:
    data = FIXTURE.replace(b",", b";")
    assert [r for r in read_all(data)] == read_all(FIXTURE)


def test_utf8_file_with_a_stray_cp1252_byte_far_down_keeps_the_row() -> None:
    lines = FIXTURE.split(b"\r\n")
    padding = [lines[8]] * 2000  # push the odd byte past the 64 KiB sniff
    odd = lines[9].replace(b"JANE", b"REN\xc9E")  # 0xC9 is cp1252 for É
    results = read_all(b"\r\n".join([*lines[:7], *padding, odd]))
    assert isinstance(results[-1], StatementRow)
    assert results[-1].party_name == "REN\u00c9E **** MWANGI"


def test_cp1252_file_is_decoded_as_cp1252() -> None:
    spec = StatementSpec(seed=2, rows=400, business_payer_share=0.5, quirks={Quirk.CP1252})
    data = build(spec, "a-csv")
    assert "CAFÉ".encode("cp1252") in data
    names = {r.party_name for r in read_all(data) if isinstance(r, StatementRow)}
    assert "CAFÉ NAIROBI LTD" in names


def test_xls_sheet_is_called_transaction_and_xlsx_sheet_is_found_by_its_header() -> None:
    with open_statement(build(StatementSpec(rows=10), "a-xls")) as xls:
        assert xls.format == "xls" and xls.family == "A"
        assert xls.preamble.short_code == "600123"
    with open_statement(build(StatementSpec(rows=10), "a-xlsx")) as xlsx:
        assert xlsx.format == "xlsx"
        assert xlsx.header_row_number == 7  # on the second sheet, after the preamble


def test_preamble_totals_agree_with_the_rows() -> None:
    spec = StatementSpec(seed=6, rows=300)
    with open_statement(build(spec, "a-xlsx")) as statement:
        rows = [r for r in statement.rows() if isinstance(r, StatementRow)]
        preamble = statement.preamble
    assert preamble.total_paid_in == sum((r.paid_in or Decimal(0) for r in rows), Decimal(0))
    assert preamble.total_withdrawn == sum((r.withdrawn or Decimal(0) for r in rows), Decimal(0))
    assert preamble.closing_balance == rows[0].balance
    assert preamble.period_from is not None and preamble.period_to is not None
    assert preamble.period_from <= rows[-1].completion_time <= rows[0].completion_time


def test_c2b_confirmations_match_money_received_rows() -> None:
    spec = StatementSpec(seed=7, rows=500, quirks={Quirk.FLOAT_ACCOUNT, Quirk.NO_SECONDS})
    confirmations = list(c2b_confirmations(spec, 0.6))
    received = {
        r.receipt: r
        for r in read_all(build(spec, "a-xlsx"))
        if isinstance(r, StatementRow) and r.kind is EntryKind.RECEIVED
    }
    assert 0.45 * len(received) < len(confirmations) < 0.75 * len(received)
    for body in confirmations:
        row = received[body["TransID"]]
        assert Decimal(body["TransAmount"]) == row.paid_in
        assert parse_daraja_timestamp(body["TransTime"]) == row.completion_time
        if not body["BillRefNumber"].strip().isdigit():
            assert account_key(body["BillRefNumber"]) == account_key(row.account_number)
        assert body["MSISDN"] == "" or is_hashed_msisdn(body["MSISDN"])
        assert body["TransactionType"] in ("Pay Bill", "CustomerPayBillOnline")
    assert list(c2b_confirmations(spec, 0.6)) == confirmations  # deterministic
    assert len(list(c2b_confirmations(spec, 1.0))) == len(received)


def test_receipts_follow_the_m_pesa_shape() -> None:
    import random
    from datetime import UTC, datetime

    assert receipt_number(random.Random(1), datetime(2025, 10, 4, 12, tzinfo=UTC))[:3] == "TJ4"
    assert receipt_number(random.Random(1), datetime(2026, 12, 31, 12, tzinfo=UTC))[:3] == "ULV"
    for row in generate_rows(StatementSpec(rows=50)):
        assert len(row.receipt) == 10 and row.receipt.isalnum() and row.receipt.isupper()


def test_generator_streams_to_a_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "big.csv"
    spec = StatementSpec(seed=1, rows=5000, preamble_totals=False)
    from tests.statements.generator import write_family_a_csv

    write_family_a_csv(spec, path)
    with open_statement(path, filename=path.name) as statement:
        assert sum(1 for _ in statement.rows()) == 5000
    assert io.BytesIO(path.read_bytes()).read(15) == b"Account Holder:"


def test_sheet_row_numbers_count_leading_empty_rows_and_columns() -> None:
    import xlsxwriter

    from tests.statements.generator import HEADER_A

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("S")
    sheet.write_row(3, 2, HEADER_A)
    sheet.write_row(5, 2, ["TJ4A7Q2ZK1", "04-10-2025 09:15:22", "", "x", "Completed", "1.00"])
    book.close()
    with open_statement(buffer.getvalue()) as statement:
        assert statement.header_row_number == 4
        (row,) = statement.rows()
    assert row.row_number == 6 and row.receipt == "TJ4A7Q2ZK1"


def test_file_name_fills_what_the_preamble_lacks() -> None:
    lines = FIXTURE.split(b"\r\n")
    name = "ORG_600999_Utility Account_Completed_20251005080113.csv"
    with open_statement(b"\r\n".join(lines[6:]), filename=name) as statement:
        assert statement.preamble.short_code == "600999"
        assert statement.preamble.account == "Utility Account"
        assert statement.preamble.report_date is not None
        assert statement.preamble.report_date.isoformat() == "2025-10-05T05:01:13+00:00"
    with open_statement(FIXTURE, filename=name) as statement:
        assert statement.preamble.short_code == "600123"  # the file's own preamble wins


def test_family_b_in_an_xlsx_reads_like_its_csv() -> None:
    import csv

    import xlsxwriter

    data = build(StatementSpec(seed=9, rows=80), "b-csv")
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Statement")
    for index, cells in enumerate(csv.reader(io.StringIO(data.decode("utf-8")))):
        sheet.write_row(index, 0, cells)
    book.close()
    with open_statement(buffer.getvalue()) as statement:
        assert (statement.family, statement.format) == ("B", "xlsx")
        from_xlsx = list(statement.rows())
    assert from_xlsx == read_all(data)
