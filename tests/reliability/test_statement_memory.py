"""A spreadsheet upload is read row by row: a bad one is refused before it fills memory.

Each case runs in a child process of its own so its peak RSS is its own.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a 40 MB sheet and starts a child interpreter

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_NS}" xmlns:r="{_REL}">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ),
}

_CHILD = """
import json, resource, sys
from mpesa_daraja_kit.statements import open_statement
from mpesa_daraja_kit.statements.model import StatementError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    open_statement(sys.argv[1]).close()
    outcome = "accepted"
except StatementError as exc:
    outcome = str(exc.code)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "growth_mb": (after - before) / 1024}))
"""


def headerless_workbook(path: Path, rows: int) -> None:
    """Write an XLSX whose only sheet holds ``rows`` rows of 8 numbers and no header row."""
    rng = random.Random(7)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in _PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_NS}"><sheetData>'.encode()
            )
            chunk: list[str] = []
            for r in range(1, rows + 1):
                cells = "".join(
                    f'<c r="{col}{r}"><v>{rng.randrange(1000)}</v></c>' for col in "ABCDEFGH"
                )
                chunk.append(f'<row r="{r}">{cells}</row>')
                if len(chunk) == 5000:
                    sheet.write("".join(chunk).encode())
                    chunk.clear()
            sheet.write(("".join(chunk) + "</sheetData></worksheet>").encode())


def test_a_headerless_workbook_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "no-header.xlsx"
    headerless_workbook(path, 400_000)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size > 80 * 2**20  # passes the ZIP bomb checks: a real-looking ratio
    assert info.file_size / info.compress_size < 100
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True
    )
    result = json.loads(child.stdout)
    assert result["outcome"] == "statement_invalid"
    assert result["growth_mb"] < 40, result


def test_a_workbook_with_many_shared_strings_reads_as_calamine_reads_it(tmp_path: Path) -> None:
    # Past the first few thousand, shared strings live in a temporary file.
    xlsxwriter = pytest.importorskip("xlsxwriter")
    calamine = pytest.importorskip("python_calamine")
    from mpesa_daraja_kit.statements.xlsx import XlsxBook

    path = tmp_path / "shared.xlsx"
    book = xlsxwriter.Workbook(str(path))  # not constant_memory: a shared strings table
    sheet = book.add_worksheet("transaction")
    stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    for r in range(6000):
        sheet.write_string(r, 1, f"UAQ{r:07d} ñ")
        sheet.write_number(r, 2, r / 4)
        sheet.write_boolean(r, 4, r % 2 == 0)
        sheet.write_number(r, 5, 45000 + r / 1000, stamp)
    book.close()
    expected = list(
        calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("transaction").iter_rows()
    )
    with path.open("rb") as file:
        xlsx = XlsxBook(file)
        try:
            got = list(xlsx.iter_rows("transaction"))
        finally:
            xlsx.close()
    assert [number for number, _ in got] == list(range(1, 6001))
    # calamine drops the empty column A; the kit keeps columns where the sheet has them.
    assert [row[1:] for _, row in got] == [list(row) for row in expected]


def test_a_sheet_that_breaks_off_fails_the_rest_as_one_row(tmp_path: Path) -> None:
    from mpesa_daraja_kit.statements import RowFailure, open_statement
    from tests.statements.generator import StatementSpec, write_family_a_xlsx

    path = tmp_path / "whole.xlsx"
    write_family_a_xlsx(StatementSpec(rows=50), str(path))
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet2.xml":
                data = data[: len(data) * 2 // 3] + b"<c><<<"
            target.writestr(info, data)
    with open_statement(broken) as statement:
        results = list(statement.rows())
    assert 0 < len(results) < 50
    assert isinstance(results[-1], RowFailure)
    assert "cannot be read" in results[-1].reason


def test_a_sparse_xls_is_refused_before_calamine_allocates_its_grid(tmp_path: Path) -> None:
    # Two cells, A1 and IV65536, in 5 KB: calamine would allocate a 16.7M-cell grid (1 GB).
    xlwt = pytest.importorskip("xlwt")
    from mpesa_daraja_kit.errors import ErrorCode
    from mpesa_daraja_kit.statements import open_statement
    from mpesa_daraja_kit.statements.model import StatementError

    book = xlwt.Workbook()
    sheet = book.add_sheet("transaction")
    sheet.write(0, 0, "Receipt No.")
    sheet.write(65535, 255, "x")
    path = tmp_path / "sparse.xls"
    book.save(str(path))
    assert path.stat().st_size < 10_000
    with pytest.raises(StatementError) as raised:
        open_statement(path)
    assert raised.value.code is ErrorCode.STATEMENT_TOO_LARGE
    assert "16777216 cells" in raised.value.message


def test_xlsx_escapes_are_decoded_as_calamine_decodes_them_then_cleaned(tmp_path: Path) -> None:
    xlsxwriter = pytest.importorskip("xlsxwriter")
    from mpesa_daraja_kit.statements.xlsx import XlsxBook

    path = tmp_path / "escapes.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("S")
    for row, value in enumerate(["a\x01b", "lit _x0041_ here", "nul\x00end"]):
        sheet.write_string(row, 0, value)
    book.close()
    with path.open("rb") as file:
        xlsx = XlsxBook(file)
        try:
            got = [cells for _, cells in xlsx.iter_rows("S")]
        finally:
            xlsx.close()
    assert got == [["a\x01b"], ["lit _x0041_ here"], ["nulend"]]  # the NUL removed
