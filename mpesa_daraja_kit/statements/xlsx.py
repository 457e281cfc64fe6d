"""Read an XLSX sheet row by row, straight from its ZIP entry, in bounded memory.

python-calamine unpacks a whole sheet into memory before the first row is
seen (about 1.25 GB for a million rows), so XLSX is read here instead: the
sheet's XML is inflated in 4 KiB chunks and parsed incrementally, and each
``<row>`` is turned into a list of cells and dropped. The shared strings
table goes to a temporary file with an array of offsets (8 bytes a string in
memory), and only the first strings, which hold the repeated texts, stay in
memory. Cells come back as python-calamine gives them, so one parser serves
both: ``str``, ``float``, ``bool``, ``datetime``/``date``/``time`` for
date-formatted numbers, ``timedelta`` for durations, ``""`` for gaps.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import IO, Literal
from xml.etree.ElementTree import Element, XMLPullParser

from mpesa_daraja_kit.statements.cells import Cell
from mpesa_daraja_kit.text import storable_text

__all__ = ["SharedStrings", "XlsxBook", "XlsxFormatError"]

# Small feeds keep few elements alive at once: a 64 KiB feed leaves a thousand or
# more, enough to set off the cyclic garbage collector over and over (in an import,
# with many live objects, a 100 000-row XLSX took 18 s instead of 7 s).
_CHUNK = 4096
_IN_MEMORY_STRINGS = 4096
_BUILTIN_DATE_FORMATS = frozenset({*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)})
_BUILTIN_DURATION_FORMATS = frozenset({46})
_DATE_CODE = re.compile(r"[dmyhs]", re.IGNORECASE)
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.')
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_EPOCH = datetime(1899, 12, 30)  # noqa: DTZ001 - Excel serials are wall-clock
_EPOCH_1904 = datetime(1904, 1, 1)  # noqa: DTZ001
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STRICT_REL_NS = "http://purl.oclc.org/ooxml/officeDocument/relationships"


class XlsxFormatError(ValueError):
    """The archive is not a readable XLSX (missing part, malformed XML, a DTD)."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


_Event = Literal["start", "end"]


def _named(tag: str, local: str) -> bool:
    """Tell whether ``tag`` (``{namespace}name`` or bare) has the local name ``local``."""
    return tag.endswith(local) and (len(tag) == len(local) or tag[-len(local) - 1] == "}")


def _parse_events(entry: IO[bytes], events: tuple[_Event, ...]) -> Iterator[tuple[str, Element]]:
    """Yield ElementTree pull events for a ZIP entry read in chunks; refuse DTDs."""
    parser: XMLPullParser[Element] = XMLPullParser(events)
    first = True
    try:
        while chunk := entry.read(_CHUNK):
            if first and b"<!DOCTYPE" in chunk[:4096]:
                raise XlsxFormatError("the workbook's XML declares a DTD")
            first = False
            parser.feed(chunk)
            yield from parser.read_events()  # type: ignore[misc]
        parser.close()
        yield from parser.read_events()  # type: ignore[misc]
    except SyntaxError as exc:  # ParseError
        raise XlsxFormatError(f"the workbook's XML is malformed ({exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a damaged or lying entry
        raise XlsxFormatError(f"the archive is damaged ({exc})") from None


def _unescape(text: str) -> str:
    """Decode OOXML's ``_xHHHH_`` escapes (control characters; ``_x005F_`` is ``_``), cleaned.

    The decoded text can hold a NUL or a lone surrogate, so it goes through
    :func:`~mpesa_daraja_kit.text.storable_text` like every other text from outside.
    """
    if "_x" not in text:
        return text
    return storable_text(_ESCAPE.sub(lambda match: chr(int(match[1], 16)), text))


def _text_of(element: Element) -> str:
    """Return a ``<si>``/``<is>`` string: its ``<t>`` texts, phonetic runs left out."""
    if len(element) == 1:  # the common case: one plain ``<t>``
        only = element[0]
        if not len(only) and _named(only.tag, "t"):
            return _unescape(only.text or "")
    parts: list[str] = []
    for node in element.iter():
        name = _local(node.tag)
        if name == "t" and node.text:
            parts.append(node.text)
        elif name == "rPh":
            break  # phonetic guides come after the text itself
    return _unescape("".join(parts))


class SharedStrings:
    """The workbook's shared strings: the first few in memory, the rest in a temporary file."""

    def __init__(self) -> None:
        self._head: list[str] = []
        self._offsets = array("Q", [0])
        self._file: IO[bytes] | None = None

    @classmethod
    def load(cls, entry: IO[bytes]) -> SharedStrings:
        """Read ``xl/sharedStrings.xml`` once, streaming."""
        strings = cls()
        for _event, element in _parse_events(entry, ("end",)):
            if _local(element.tag) == "si":
                strings.add(_text_of(element))
                element.clear()
        if strings._file is not None:
            strings._file.flush()  # get() reads the file descriptor directly
        return strings

    def add(self, text: str) -> None:
        """Append one string."""
        if len(self._head) < _IN_MEMORY_STRINGS:
            self._head.append(text)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        data = text.encode("utf-8", "surrogatepass")
        self._file.write(data)
        self._offsets.append(self._offsets[-1] + len(data))

    def __len__(self) -> int:
        return len(self._head) + len(self._offsets) - 1

    def get(self, index: int) -> str:
        """Return string ``index``; an index past the table gives ``""``."""
        if index < len(self._head):
            return self._head[index] if index >= 0 else ""
        index -= len(self._head)
        if self._file is None or index + 1 >= len(self._offsets):
            return ""
        start, end = self._offsets[index], self._offsets[index + 1]
        data = os.pread(self._file.fileno(), end - start, start)
        return data.decode("utf-8", "surrogatepass")

    def close(self) -> None:
        """Delete the temporary file."""
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None


def _is_date_format(code: str) -> bool:
    return _DATE_CODE.search(_FORMAT_NOISE.sub("", code)) is not None


def _is_duration_format(code: str) -> bool:
    return re.search(r"\[(h+|m+|s+)\]", code, re.IGNORECASE) is not None


class XlsxBook:
    """An open XLSX: sheet names in workbook order, rows of a sheet on demand."""

    def __init__(self, file: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(file)
        self._strings: SharedStrings | None = None
        self._date1904 = False
        self._styles: list[str] | None = None  # per style: "", "date" or "duration"
        self._sheets = self._read_workbook()

    @property
    def sheet_names(self) -> list[str]:
        """Return the worksheet names, in workbook order."""
        return list(self._sheets)

    def close(self) -> None:
        """Release the archive and the shared strings' temporary file."""
        if self._strings is not None:
            self._strings.close()
        self._zip.close()

    def _open(self, name: str) -> IO[bytes] | None:
        try:
            return self._zip.open(name)
        except KeyError:
            return None

    def _read_workbook(self) -> dict[str, str]:
        relations: dict[str, str] = {}
        rels = self._open("xl/_rels/workbook.xml.rels")
        if rels is not None:
            with rels:
                for _event, element in _parse_events(rels, ("end",)):
                    if _local(element.tag) == "Relationship":
                        target = element.get("Target", "")
                        if target.startswith("/"):
                            path = target.lstrip("/")
                        else:
                            path = posixpath.normpath(posixpath.join("xl", target))
                        relations[element.get("Id", "")] = path
        workbook = self._open("xl/workbook.xml")
        if workbook is None:
            raise XlsxFormatError("the archive has no xl/workbook.xml")
        sheets: dict[str, str] = {}
        with workbook:
            for _event, element in _parse_events(workbook, ("end",)):
                name = _local(element.tag)
                if name == "workbookPr":
                    self._date1904 = element.get("date1904", "0").lower() in ("1", "true")
                elif name == "sheet":
                    rid = element.get(f"{{{_REL_NS}}}id") or element.get(f"{{{_STRICT_REL_NS}}}id")
                    sheet_path = relations.get(rid or "")
                    if sheet_path is not None and sheet_path.startswith("xl/worksheets/"):
                        sheets[element.get("name", "")] = sheet_path
        return sheets

    def _load_shared(self) -> SharedStrings:
        if self._strings is None:
            entry = self._open("xl/sharedStrings.xml")
            if entry is None:
                self._strings = SharedStrings()
            else:
                with entry:
                    self._strings = SharedStrings.load(entry)
        return self._strings

    def _load_styles(self) -> list[str]:
        if self._styles is not None:
            return self._styles
        custom: dict[int, str] = {}
        kinds: list[str] = []
        entry = self._open("xl/styles.xml")
        if entry is not None:
            in_xfs = False
            with entry:
                for event, element in _parse_events(entry, ("start", "end")):
                    name = _local(element.tag)
                    if name == "cellXfs":
                        in_xfs = event == "start"
                    elif event == "end" and name == "numFmt":
                        custom[int(element.get("numFmtId", "0"))] = element.get("formatCode", "")
                    elif event == "end" and name == "xf" and in_xfs:
                        kinds.append(self._format_kind(int(element.get("numFmtId", "0")), custom))
        self._styles = kinds
        return kinds

    @staticmethod
    def _format_kind(fmt: int, custom: dict[int, str]) -> str:
        code = custom.get(fmt)
        if code is not None:
            if _is_duration_format(code):
                return "duration"
            return "date" if _is_date_format(code) else ""
        if fmt in _BUILTIN_DURATION_FORMATS:
            return "duration"
        return "date" if fmt in _BUILTIN_DATE_FORMATS else ""

    def iter_rows(self, name: str) -> Iterator[tuple[int, list[Cell]]]:
        """Yield (1-based row number, cells from column A) for each row the sheet stores."""
        entry = self._open(self._sheets[name])
        if entry is None:
            raise XlsxFormatError(f"the sheet {name!r} is missing from the archive")
        styles = self._load_styles()
        strings = self._load_shared()
        with entry:
            parent: Element | None = None
            number = 0
            for event, element in _parse_events(entry, ("start", "end")):
                tag = element.tag
                if event == "start":
                    if tag.endswith("sheetData"):
                        parent = element
                    continue
                if not _named(tag, "row"):
                    continue
                row_attr = element.get("r")
                number = int(row_attr) if row_attr else number + 1
                yield number, self._cells(element, strings, styles)
                element.clear()
                if parent is not None:
                    parent.clear()

    def _cells(self, row: Element, strings: SharedStrings, styles: list[str]) -> list[Cell]:
        cells: list[Cell] = []
        for cell in row:
            if not _named(cell.tag, "c"):
                continue
            ref = cell.get("r")
            if ref:
                column = _column_index(ref)
                if column > len(cells):
                    cells.extend([""] * (column - len(cells)))
            cells.append(self._value(cell, strings, styles))
        return cells

    def _value(self, cell: Element, strings: SharedStrings, styles: list[str]) -> Cell:
        kind = cell.get("t", "n")
        text: str | None = None
        for child in cell:
            tag = child.tag
            if _named(tag, "v"):
                text = child.text or ""
                break
            if _named(tag, "is"):
                return _text_of(child)
        if text is None:
            return ""
        if kind == "s":
            try:
                return strings.get(int(text))
            except ValueError:
                return ""
        if kind in ("str", "e", "inlineStr"):
            return text
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            try:
                return datetime.fromisoformat(text.strip())
            except ValueError:
                return text
        try:
            number = float(text)
        except ValueError:
            return text
        style = cell.get("s")
        if style:
            index = int(style) if style.isdigit() else 0
            if index < len(styles) and styles[index]:
                return self._serial(number, styles[index])
        return number

    def _serial(self, number: float, kind: str) -> Cell:
        """Turn a date- or duration-formatted serial into what python-calamine gives."""
        millis = round(number * 86_400_000)
        if kind == "duration":
            return timedelta(milliseconds=millis)
        if self._date1904:
            base = _EPOCH_1904
        else:
            base = _EPOCH if number >= 60 else _EPOCH + timedelta(days=1)
        try:
            moment = base + timedelta(milliseconds=millis)
        except OverflowError:
            return number
        if 0 <= number < 1:
            return time(moment.hour, moment.minute, moment.second, moment.microsecond)
        if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
            return date(moment.year, moment.month, moment.day)
        return moment


def _column_index(ref: str) -> int:
    """Return the 0-based column of a cell reference such as ``AB12``."""
    column = 0
    for char in ref:
        code = ord(char) - 64
        if not 1 <= code <= 26:
            code = ord(char) - 96
            if not 1 <= code <= 26:
                break
        column = column * 26 + code
    return column - 1
