"""Files that are not statements, too large, or ZIP bombs are refused with a clear message."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from mpesa_daraja_kit.errors import ErrorCode, MpesaKitError, ValidationError
from mpesa_daraja_kit.statements import (
    StatementError,
    StatementLimits,
    StatementRow,
    open_statement,
)
from tests.statements.conftest import FAMILY_A_CSV, build, read_all
from tests.statements.generator import StatementSpec

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def _refused(data: object, **kwargs: object) -> StatementError:
    with pytest.raises(StatementError) as caught:
        open_statement(data, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_statement_error_is_a_kit_validation_error() -> None:
    error = _refused(b"hello")
    assert isinstance(error, ValidationError) and isinstance(error, MpesaKitError)
    assert error.to_dict()["code"] == "statement_invalid"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (PNG, "a PNG image"),
        (b"%PDF-1.7\n\x00\x01\x02binary", "a PDF document"),
        (b"Dear customer,\nyour statement is attached.\n", "Receipt No."),
        (b"Date,Description,Amount\r\n01/10/2025,Coffee,-3.50\r\n", "Receipt No."),
        (b"\r\n\r\n", "Receipt No."),
    ],
)
def test_non_statements_are_refused_naming_the_expected_header(data: bytes, words: str) -> None:
    error = _refused(data)
    assert error.code is ErrorCode.STATEMENT_INVALID
    assert words in error.message
    assert "Receipt No." in error.message


def test_header_only_searched_near_the_top() -> None:
    data = b"note\r\n" * 60 + FAMILY_A_CSV.read_bytes()
    assert "first 50 rows" in _refused(data).message
    assert open_statement(data, limits=StatementLimits(header_search_rows=200)).family == "A"


def test_header_missing_needed_columns_names_them() -> None:
    error = _refused(b"Receipt No.,Details,Balance\r\nX,Y,1.00\r\n")
    assert "Completion Time" in error.message and "Paid In" in error.message


def test_xlsx_without_the_header_is_refused() -> None:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.add_worksheet("Sheet1").write_row(0, 0, ["Date", "Amount"])
    book.add_worksheet("Other").write_row(0, 0, ["Nothing", "here"])
    book.close()
    error = _refused(buffer.getvalue())
    assert "'Sheet1', 'Other'" in error.message and "Receipt No." in error.message


def test_zip_that_is_not_a_workbook_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "not a workbook" in _refused(buffer.getvalue()).message


def test_damaged_xlsx_is_refused() -> None:
    data = build(StatementSpec(rows=20), "a-xlsx")
    assert "Receipt No." in _refused(data[: len(data) // 2]).message


def _bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * size)
    return buffer.getvalue()


def test_zip_bomb_is_refused_by_its_ratio_before_unpacking() -> None:
    data = _bomb(50 * 1024 * 1024)
    assert len(data) < 200_000
    error = _refused(data)
    assert error.code is ErrorCode.STATEMENT_TOO_LARGE
    assert "decompression bomb" in error.message


def test_zip_bomb_is_refused_by_total_size() -> None:
    limits = StatementLimits(max_uncompressed_bytes=1024 * 1024, max_compression_ratio=10**6)
    assert "unpacks to" in _refused(_bomb(2 * 1024 * 1024), limits=limits).message


def test_zip_directory_that_understates_sizes_is_caught() -> None:
    data = bytearray(_bomb(300_000))
    # Lie in the central directory: claim the sheet unpacks to 1000 bytes
    # (uncompressed size sits 24 bytes into a central directory record).
    name = b"xl/worksheets/sheet1.xml"
    record = data.find(name, data.find(b"PK\x01\x02")) - 46
    assert data[record : record + 4] == b"PK\x01\x02"
    data[record + 24 : record + 28] = (1000).to_bytes(4, "little")
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        assert archive.getinfo(name.decode()).file_size == 1000  # the lie is in place
    error = _refused(bytes(data), limits=StatementLimits(ratio_check_min_bytes=10**9))
    assert "damaged" in error.message


def test_many_entries_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        for n in range(30):
            archive.writestr(f"x{n}", "")
    assert (
        "entries" in _refused(buffer.getvalue(), limits=StatementLimits(max_zip_entries=10)).message
    )


def test_size_limit_for_every_kind_of_source(tmp_path: Path) -> None:
    data = FAMILY_A_CSV.read_bytes()
    path = tmp_path / "s.csv"
    path.write_bytes(data)
    for source in (data, path, str(path), io.BytesIO(data), _Pipe(data)):
        error = _refused(source, max_bytes=len(data) - 1)
        assert error.code is ErrorCode.STATEMENT_TOO_LARGE
        assert f"limit is {len(data) - 1} bytes" in error.message
    assert open_statement(data, max_bytes=len(data)).family == "A"


def test_default_size_limit_applies() -> None:
    limits = StatementLimits(max_bytes=100)
    assert _refused(FAMILY_A_CSV.read_bytes(), limits=limits).code is ErrorCode.STATEMENT_TOO_LARGE


def test_empty_file_and_missing_path(tmp_path: Path) -> None:
    assert "empty" in _refused(b"").message
    assert "cannot read" in _refused(tmp_path / "nope.csv").message


class _Pipe(io.RawIOBase):
    """A non-seekable stream, like an upload arriving over a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 1000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_every_kind_of_source_reads_the_same(tmp_path: Path) -> None:
    data = FAMILY_A_CSV.read_bytes()
    path = tmp_path / "statement.bin"  # the extension says nothing
    path.write_bytes(data)
    expected = read_all(data)
    assert all(isinstance(r, StatementRow) for r in expected)
    for source in (path, str(path), io.BytesIO(data), io.BufferedReader(_Pipe(data))):
        assert read_all(source) == expected
    xlsx = tmp_path / "statement.csv"  # an XLSX named .csv is still read as XLSX
    xlsx.write_bytes(build(StatementSpec(rows=10), "a-xlsx"))
    with open_statement(xlsx) as statement:
        assert statement.format == "xlsx"


def test_caller_file_is_left_open() -> None:
    handle = io.BytesIO(FAMILY_A_CSV.read_bytes())
    with open_statement(handle) as statement:
        list(statement.rows())
    assert not handle.closed
