"""Open an M-Pesa statement (CSV, XLSX, XLS; family A or B) and stream its rows.

::

    with open_statement(path, filename="ORG_600123_….csv") as statement:
        statement.family, statement.format, statement.preamble, statement.sha256
        for result in statement.rows():   # StatementRow | RowFailure, file order
            ...

CSV is read row by row through :mod:`csv` over a text wrapper, and XLSX row
by row from its ZIP entry (:mod:`mpesa_daraja_kit.statements.xlsx`), so memory
stays flat whatever the file's size. Text is cleaned as callback text is
(:func:`mpesa_daraja_kit.text.storable_text`: no NUL, no lone surrogate); in
XLSX only an ``_xHHHH_`` escape can carry either, and it is cleaned as decoded.
XLS (at most 65 536 rows) and XLSB go through python-calamine, which holds one
whole sheet in memory; an XLS sheet spanning more than
``limits.max_in_memory_sheet_cells`` cells and an XLSB whose sheets unpack to
more than ``limits.max_in_memory_sheet_bytes`` are refused before it reads them.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import attrs

from mpesa_daraja_kit.errors import require
from mpesa_daraja_kit.statements.cells import Cell
from mpesa_daraja_kit.statements.columns import (
    ColumnMap,
    is_blank_row,
    is_header_row,
    map_columns,
    parse_preamble,
    preamble_from_filename,
)
from mpesa_daraja_kit.statements.model import (
    DEFAULT_LIMITS,
    EXPECTED_HEADER,
    RowResult,
    StatementError,
    StatementFamily,
    StatementFormat,
    StatementLimits,
    StatementPreamble,
)
from mpesa_daraja_kit.statements.rowparse import (
    BrokenRow,
    RawRows,
    mark_internal_pairs,
    parse_rows,
)
from mpesa_daraja_kit.statements.source import (
    Source,
    StatementSource,
    check_in_memory_sheets,
    check_xls_sheets,
    check_xlsx_zip,
    load_source,
    sniff_format,
)
from mpesa_daraja_kit.statements.xlsx import XlsxBook, XlsxFormatError
from mpesa_daraja_kit.text import storable_text

__all__ = ["StatementReader", "open_statement"]

_CP1252_FALLBACK = "mpesa_daraja_kit.cp1252"


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    # A UTF-8 file with a few cp1252 bytes (an accented name typed on Windows)
    # keeps its text instead of losing the row (STATEMENTS.md, CSV encodings).
    if not isinstance(exc, UnicodeDecodeError):  # pragma: no cover - decode only
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bytes(bad).decode("cp1252", errors="replace"), exc.end


codecs.register_error(_CP1252_FALLBACK, _cp1252_fallback)


def open_statement(
    source: StatementSource,
    *,
    max_bytes: int | None = None,
    filename: str | None = None,
    limits: StatementLimits = DEFAULT_LIMITS,
) -> StatementReader:
    """Open a statement, check it is one, and read up to its header row.

    Args:
        source: the file's bytes, a path (``str`` or PathLike) or a binary file.
        max_bytes: size limit; None uses ``limits.max_bytes`` (64 MiB by default).
        filename: the uploaded name, used only to fill the preamble (short code,
            period); the content decides the format.
        limits: the other safety limits (ZIP bomb caps, header search depth).

    Raises:
        StatementError: too large (``STATEMENT_TOO_LARGE``), not a CSV/XLSX/XLS,
            or no ``Receipt No.`` header row near the top (``STATEMENT_INVALID``).
    """
    if max_bytes is not None:
        limits = attrs.evolve(limits, max_bytes=max_bytes)
    src = load_source(source, limits.max_bytes)
    try:
        fmt = sniff_format(src)
        if fmt == "xlsx":
            check_xlsx_zip(src, limits)
            if src.is_xlsb:
                check_in_memory_sheets(src, limits)
        elif fmt == "xls":
            check_xls_sheets(src, limits)
        return StatementReader(src, fmt, limits, filename)
    except BaseException:
        src.close()
        raise


class StatementReader:
    """A statement opened by :func:`open_statement`; iterate :meth:`rows` to read it."""

    def __init__(
        self, source: Source, fmt: StatementFormat, limits: StatementLimits, filename: str | None
    ) -> None:
        self._source = source
        self._limits = limits
        self._workbook: Any = None
        self._sheet: Any = None
        self._book: XlsxBook | None = None
        self._sheet_name: str | None = None
        self.format: StatementFormat = fmt
        self.filename = filename
        self.sha256: str = source.sha256
        self.size: int = source.size
        self._delimiter = ","
        self._encoding = "utf-8"
        try:
            if fmt == "csv":
                self._pick_csv_dialect()
            elif fmt == "xlsx" and not source.is_xlsb:
                self._open_xlsx()
            else:
                self._open_workbook()
            header_row, header, before = self._find_header()
            self.header_row_number: int = header_row
            self.columns: ColumnMap = map_columns(header)
        except BaseException:
            self.close()
            raise
        self.family: StatementFamily = self.columns.family
        self.preamble: StatementPreamble = preamble_from_filename(parse_preamble(before), filename)

    def __enter__(self) -> StatementReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the file and the workbook."""
        self._sheet = None
        if self._book is not None:
            self._book.close()
            self._book = None
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None
        self._source.close()

    # -- finding things ---------------------------------------------------------

    def _pick_csv_dialect(self) -> None:
        head = self._source.rewind().read(64 * 1024)
        self._source.rewind()
        if head.startswith(codecs.BOM_UTF8):
            self._encoding = "utf-8-sig"
        else:
            try:
                head.decode("utf-8")
            except UnicodeDecodeError as exc:
                # An error in the last 3 bytes may be a character cut by the 64 KiB read.
                truncated = len(head) == 64 * 1024 and exc.start >= len(head) - 3
                if not truncated:
                    self._encoding = "cp1252"
        text = head.decode("cp1252", errors="replace").lower()
        at = text.find("receipt no")
        if at >= 0:
            rest = text[at + len("receipt no") :].lstrip('."')
            if rest[:1] in (";", "\t", "|"):
                self._delimiter = rest[0]

    def _open_xlsx(self) -> None:
        try:
            self._book = XlsxBook(self._source.rewind())
        except XlsxFormatError as exc:
            raise StatementError(
                f"the XLSX workbook cannot be read ({exc}); expected a sheet "
                f"with a {EXPECTED_HEADER!r} header row"
            ) from None
        names = _transaction_first(self._book.sheet_names)
        for name in names:
            self._sheet_name = name
            try:
                self._find_header()
            except StatementError:
                continue
            return
        self._sheet_name = None
        raise _no_sheet_with_header(names, self._limits)

    def _open_workbook(self) -> None:
        calamine = require(
            "python_calamine", "statements", feature=f"reading {self.format.upper()} statements"
        )
        workbook_class = calamine.CalamineWorkbook

        try:
            if self._source.path is not None:
                self._workbook = workbook_class.from_path(self._source.path)
            else:
                self._workbook = workbook_class.from_filelike(self._source.rewind())
        except Exception as exc:  # calamine raises its own error types
            raise StatementError(
                f"the {self.format.upper()} workbook cannot be read ({exc}); expected a sheet "
                f"with a {EXPECTED_HEADER!r} header row"
            ) from None
        names = _transaction_first(self._workbook.sheet_names)
        for name in names:
            try:
                sheet = self._workbook.get_sheet_by_name(name)
            except Exception:  # noqa: S112 - a chart sheet or a damaged sheet: try the next
                continue
            self._sheet = sheet
            try:
                self._find_header()
            except StatementError:
                continue
            return
        self._sheet = None
        raise _no_sheet_with_header(names, self._limits)

    def _find_header(self) -> tuple[int, Sequence[Cell], list[Sequence[Cell]]]:
        before: list[Sequence[Cell]] = []
        seen = 0
        raw = self._raw_rows()
        try:
            for number, row in raw:
                if is_blank_row(row):
                    continue
                if is_header_row(row):
                    return number, row, before
                seen += 1
                if seen >= self._limits.header_search_rows:
                    break
                before.append(row)
        finally:
            raw.close()  # type: ignore[attr-defined]
        raise StatementError(
            f"no {EXPECTED_HEADER!r} header row in the first {self._limits.header_search_rows} "
            f"rows; expected an M-Pesa statement whose header starts with {EXPECTED_HEADER!r} "
            "(Completion Time, Details, Transaction Status, Paid In, Withdrawn, …)",
            expected_header=EXPECTED_HEADER,
        )

    def _raw_rows(self) -> RawRows:
        if self.format == "csv":
            return self._csv_rows()
        if self._book is not None:
            return self._xlsx_rows()
        return self._sheet_rows()

    def _csv_rows(self) -> RawRows:
        errors = "replace" if self._encoding == "cp1252" else _CP1252_FALLBACK
        text = io.TextIOWrapper(
            self._source.rewind(), encoding=self._encoding, errors=errors, newline=""
        )
        try:
            reader = csv.reader(map(storable_text, text), delimiter=self._delimiter)
            line = 0
            while True:
                try:
                    for row in reader:
                        number = line + 1
                        line = reader.line_num
                        yield number, row
                    return
                except csv.Error as exc:
                    yield line + 1, BrokenRow(f"the CSV row cannot be read: {exc}")
                    line = reader.line_num
        finally:
            with contextlib.suppress(ValueError):  # the reader was closed first
                text.detach()  # leave the underlying file open for the next pass

    def _xlsx_rows(self) -> RawRows:
        assert self._book is not None and self._sheet_name is not None
        number = 0
        try:
            for number, row in self._book.iter_rows(self._sheet_name):
                yield number, row
        except XlsxFormatError as exc:
            yield number + 1, BrokenRow(f"the rest of the sheet cannot be read: {exc}")

    def _sheet_rows(self) -> RawRows:
        # python-calamine's iter_rows() starts at the sheet's first row even when
        # it is empty (it only drops empty leading columns), so the index is the row.
        for index, row in enumerate(self._sheet.iter_rows()):
            yield index + 1, [storable_text(c) if c.__class__ is str else c for c in row]

    # -- reading rows -----------------------------------------------------------

    def rows(self) -> Iterator[RowResult]:
        """Yield every data row after the header, in file order, parsed or failed.

        Blank rows are skipped. May be called again to read the file once more.
        """
        rows = parse_rows(self.columns, self._raw_rows(), after=self.header_row_number)
        return mark_internal_pairs(rows)


def _transaction_first(sheet_names: Sequence[str]) -> list[str]:
    """Return the sheet names, ``transaction`` first (the Org Portal's XLS names it so)."""
    names = list(sheet_names)
    names.sort(key=lambda name: name.strip().lower() != "transaction")
    return names


def _no_sheet_with_header(names: Sequence[str], limits: StatementLimits) -> StatementError:
    return StatementError(
        f"no sheet of the workbook ({', '.join(map(repr, names)) or 'none'}) has a "
        f"{EXPECTED_HEADER!r} header row in its first {limits.header_search_rows} rows"
    )
