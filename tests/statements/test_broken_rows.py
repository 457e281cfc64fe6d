"""Bad rows become RowFailure with their row number and a reason; the rest is still read."""

from __future__ import annotations

import csv
import io

import pytest

from mpesa_daraja_kit.statements import RowFailure, StatementRow, open_statement
from tests.statements.conftest import FAMILY_A_CSV, build, read_all
from tests.statements.generator import Quirk, StatementSpec, generate_rows

HEADER = FAMILY_A_CSV.read_bytes().split(b"\r\n")[:7]


def _with_rows(*lines: str) -> bytes:
    return b"\r\n".join([*HEADER, *(line.encode() for line in lines)]) + b"\r\n"


GOOD = "TJ4A7Q2ZK1,04-10-2025 09:15:22,04-10-2025 09:15:20,Pay Bill from X,Completed,1500.00,,11500.00,true,Pay Bill Online,25479****567 - PETER OTIENO,,pol0099881"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (GOOD.replace("04-10-2025 09:15:22", "31-09-2025 09:15:22"), "Completion Time"),
        (GOOD.replace("04-10-2025 09:15:22", "soon"), "Completion Time"),
        (GOOD.replace("04-10-2025 09:15:20", "later"), "Initiation Time"),
        (GOOD.replace("1500.00", "15OO.00"), "Paid In"),
        (GOOD.replace(",,11500.00", ",-2x,11500.00"), "Withdrawn"),
        (GOOD.replace("11500.00", "(12"), "Balance"),
        (GOOD.replace("TJ4A7Q2ZK1", ""), "Receipt No."),
    ],
)
def test_a_bad_cell_fails_its_row_only(bad: str, reason: str) -> None:
    results = read_all(_with_rows(GOOD, bad, GOOD.replace("TJ4A7Q2ZK1", "TJ4A7Q2ZK2")))
    first, failure, last = results
    assert isinstance(first, StatementRow) and first.row_number == 8
    assert isinstance(failure, RowFailure)
    assert failure.row_number == 9
    assert reason in failure.reason
    assert failure.raw[0] == bad.split(",")[0]
    assert isinstance(last, StatementRow) and last.receipt == "TJ4A7Q2ZK2"
    assert last.row_number == 10


def test_row_numbers_count_lines_inside_quoted_details() -> None:
    multi = GOOD.replace("Pay Bill from X", '"Pay Bill from X\r\nAcc. pol0099881"')
    results = read_all(_with_rows(multi, "", GOOD.replace("1500.00", "bad")))
    row, failure = results
    assert isinstance(row, StatementRow) and row.details == "Pay Bill from X\r\nAcc. pol0099881"
    assert isinstance(failure, RowFailure) and failure.row_number == 11  # 8-9 row, 10 blank


def test_short_rows_read_missing_cells_as_blank() -> None:
    (row,) = read_all(_with_rows(",".join(GOOD.split(",")[:8])))
    assert isinstance(row, StatementRow)
    assert row.account_number is None and row.reason_type_raw == ""


def test_a_field_over_the_csv_limit_fails_its_row_not_the_file() -> None:
    huge = GOOD.replace("Pay Bill from X", '"' + "x" * (csv.field_size_limit() + 10) + '"')
    results = read_all(_with_rows(GOOD, huge, GOOD), max_bytes=10**7)
    assert any(isinstance(r, RowFailure) and "cannot be read" in r.reason for r in results)
    assert isinstance(results[0], StatementRow)


@pytest.mark.parametrize("kind", ["a-csv", "a-xlsx", "a-xls", "b-csv"])
def test_generated_broken_rows_carry_their_row_numbers(kind: str) -> None:
    spec = StatementSpec(seed=31, rows=300, quirks={Quirk.BROKEN_ROWS, Quirk.BLANK_ROWS})
    numbers: list[int] = []
    results = read_all(build(spec, kind, numbers))
    truth = list(generate_rows(spec))
    broken = [(n, t.broken) for n, t in zip(numbers, truth, strict=True) if t.broken]
    failures = [r for r in results if isinstance(r, RowFailure)]
    assert len(broken) >= 5
    assert [f.row_number for f in failures] == [n for n, _ in broken]
    words = {"time": "Completion Time", "amount": "Paid In", "receipt": "Receipt No."}
    assert all(words[what] in f.reason for f, (_, what) in zip(failures, broken, strict=True))
    assert sum(isinstance(r, StatementRow) for r in results) == len(truth) - len(broken)


def test_rows_can_be_read_twice() -> None:
    with open_statement(io.BytesIO(FAMILY_A_CSV.read_bytes())) as statement:
        assert list(statement.rows()) == list(statement.rows())
