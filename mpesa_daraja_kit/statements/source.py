"""Take a statement from bytes, a path or a file: size limit, SHA-256, sniffing, ZIP guard."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
import zlib
from typing import IO, BinaryIO

import attrs

from mpesa_daraja_kit.errors import ErrorCode
from mpesa_daraja_kit.statements.model import (
    EXPECTED_HEADER,
    StatementError,
    StatementFormat,
    StatementLimits,
)
from mpesa_daraja_kit.statements.xls import XlsFormatError, sheet_boxes

__all__ = [
    "Source",
    "StatementSource",
    "check_in_memory_sheets",
    "check_xls_sheets",
    "check_xlsx_zip",
    "load_source",
    "sniff_format",
]

StatementSource = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO | IO[bytes]

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_EXPECTED_FILES = (
    f"expected an M-Pesa statement (CSV, XLSX or XLS) with a {EXPECTED_HEADER!r} header row"
)


@attrs.define
class Source:
    """A statement's bytes, open for reading from the start, with its hash and size."""

    file: IO[bytes]
    sha256: str
    size: int
    path: str | None
    owned: bool
    is_xlsb: bool = False
    """An XLSX-family ZIP holding a binary workbook (``xl/workbook.bin``), set by the ZIP check."""

    def rewind(self) -> IO[bytes]:
        """Return the file positioned at the first byte."""
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        """Close the file if this object opened it."""
        if self.owned:
            self.file.close()


def _too_large(size: int | str, limit: int) -> StatementError:
    return StatementError(
        f"the statement is {size} bytes; the limit is {limit} bytes",
        code=ErrorCode.STATEMENT_TOO_LARGE,
        limit=limit,
    )


def load_source(source: StatementSource, max_bytes: int | None) -> Source:
    """Open ``source`` (bytes; a path as ``str``/PathLike; a binary file) and hash it.

    A non-seekable file is copied to a spooled temporary file (memory up to
    8 MiB, then disk) so it can be read twice without holding it in memory.

    Raises:
        StatementError: ``STATEMENT_TOO_LARGE`` over ``max_bytes``; ``STATEMENT_INVALID``
            for an unreadable path or an empty file.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if max_bytes is not None and len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        result = Source(io.BytesIO(data), hashlib.sha256(data).hexdigest(), len(data), None, True)
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            size = os.stat(path).st_size
            if max_bytes is not None and size > max_bytes:
                raise _too_large(size, max_bytes)
            file: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by Source.close
        except OSError as exc:
            raise StatementError(f"cannot read the statement file: {exc.strerror}") from None
        result = Source(file, _hash(file, max_bytes), size, path, True)
    else:
        result = _from_file(source, max_bytes)
    if result.size == 0:
        result.close()
        raise StatementError(f"the file is empty; {_EXPECTED_FILES}")
    return result


def _hash(file: IO[bytes], max_bytes: int | None) -> str:
    digest = hashlib.sha256()
    total = 0
    while chunk := file.read(_CHUNK):
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise _too_large(f"more than {max_bytes}", max_bytes)
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def _from_file(file: IO[bytes], max_bytes: int | None) -> Source:
    seekable = False
    try:
        seekable = file.seekable() and file.tell() == 0
    except (OSError, AttributeError):
        seekable = False
    if seekable:
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        if max_bytes is not None and size > max_bytes:
            raise _too_large(size, max_bytes)
        return Source(file, _hash(file, max_bytes), size, None, False)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    digest = hashlib.sha256()
    total = 0
    try:
        while chunk := file.read(_CHUNK):
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise _too_large(f"more than {max_bytes}", max_bytes)
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Source(spool, digest.hexdigest(), total, None, True)


def sniff_format(source: Source) -> StatementFormat:
    """Tell CSV, XLSX and XLS apart by their bytes, never by the file name.

    Raises:
        StatementError: the file is a ZIP that is not a workbook, or binary data.
    """
    head = source.rewind().read(64 * 1024)
    source.rewind()
    if head.startswith(_OLE2):
        return "xls"
    if head.startswith(_ZIP):
        return "xlsx"
    if head.startswith(b"PK"):
        raise StatementError(f"the file is an empty or split ZIP archive; {_EXPECTED_FILES}")
    if b"\x00" in head or _control_share(head) > 0.01:
        kind = _binary_kind(head)
        raise StatementError(f"the file is {kind}, not a statement; {_EXPECTED_FILES}")
    return "csv"


def _control_share(head: bytes) -> float:
    if not head:
        return 0.0
    controls = sum(1 for b in head if b < 9 or 13 < b < 32 or b == 127)
    return controls / len(head)


def _binary_kind(head: bytes) -> str:
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[:3] == b"\xff\xd8\xff":
        return "a JPEG image"
    return "binary data"


def check_xlsx_zip(source: Source, limits: StatementLimits) -> None:
    """Refuse a ZIP that is not a workbook or that would unpack to too much (a ZIP bomb).

    The directory is checked first (entry count, total size, per-entry ratio),
    then, with ``limits.verify_zip_sizes``, every entry is unpacked once in
    streaming fashion and counted, so a directory that lies about sizes is caught
    by its CRC check before python-calamine unpacks the sheet into memory.

    Raises:
        StatementError: the archive is unreadable, not an XLSX, or over a limit.
    """
    try:
        with zipfile.ZipFile(source.rewind()) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_zip_entries:
                raise StatementError(
                    f"the XLSX archive has {len(infos)} entries; the limit is "
                    f"{limits.max_zip_entries}"
                )
            names = {info.filename for info in infos}
            if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
                raise StatementError(
                    f"the file is a ZIP archive but not a workbook; {_EXPECTED_FILES}"
                )
            source.is_xlsb = "xl/workbook.xml" not in names
            total = sum(info.file_size for info in infos)
            if total > limits.max_uncompressed_bytes:
                raise _bomb(f"unpacks to {total} bytes", limits)
            for info in infos:
                if info.file_size < limits.ratio_check_min_bytes:
                    continue
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_compression_ratio:
                    raise _bomb(f"entry {info.filename!r} is packed {ratio:.0f}:1", limits)
            if limits.verify_zip_sizes:
                _verify_sizes(archive, infos, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise StatementError(f"the XLSX archive is damaged ({exc}); {_EXPECTED_FILES}") from None
    finally:
        source.rewind()


def check_in_memory_sheets(source: Source, limits: StatementLimits) -> None:
    """Refuse an XLSB whose sheets unpack to more than ``limits.max_in_memory_sheet_bytes``.

    XLSB is read by python-calamine, which holds a whole sheet in memory (a few
    times its unpacked size), so its size is read from the ZIP directory first.

    Raises:
        StatementError: ``STATEMENT_TOO_LARGE`` over the limit.
    """
    with zipfile.ZipFile(source.rewind()) as archive:
        size = sum(
            info.file_size
            for info in archive.infolist()
            if info.filename.startswith("xl/worksheets/")
        )
    source.rewind()
    if size > limits.max_in_memory_sheet_bytes:
        raise StatementError(
            f"the XLSB workbook's sheets unpack to {size} bytes; the limit for a binary "
            f"workbook, read whole, is {limits.max_in_memory_sheet_bytes} bytes; save it as "
            "XLSX or CSV, which are read row by row",
            code=ErrorCode.STATEMENT_TOO_LARGE,
            limit=limits.max_in_memory_sheet_bytes,
        )


def check_xls_sheets(source: Source, limits: StatementLimits) -> None:
    """Refuse an XLS whose sheet spans more than ``limits.max_in_memory_sheet_cells`` cells.

    python-calamine holds a sheet as a grid over its cells' bounding box, so a
    few kilobytes with a cell in A1 and one in IV65536 would need about 1 GB.
    The box is measured from the file's records before calamine reads it.

    Raises:
        StatementError: ``STATEMENT_TOO_LARGE`` over the limit; ``STATEMENT_INVALID``
            when the OLE2 structure cannot be read.
    """
    try:
        boxes = sheet_boxes(source.rewind())
    except XlsFormatError as exc:
        raise StatementError(
            f"the XLS workbook cannot be read ({exc}); {_EXPECTED_FILES}"
        ) from None
    finally:
        source.rewind()
    largest = max(boxes, default=0)
    if largest > limits.max_in_memory_sheet_cells:
        raise StatementError(
            f"an XLS sheet spans {largest} cells (rows x columns between its first and last "
            f"cells); the limit is {limits.max_in_memory_sheet_cells}, as an XLS sheet is "
            "read whole; save it as XLSX or CSV, which are read row by row",
            code=ErrorCode.STATEMENT_TOO_LARGE,
            limit=limits.max_in_memory_sheet_cells,
        )


def _bomb(what: str, limits: StatementLimits) -> StatementError:
    return StatementError(
        f"the XLSX archive {what}; refusing it as a possible decompression bomb "
        f"(limits: {limits.max_uncompressed_bytes} bytes unpacked, "
        f"{limits.max_compression_ratio:.0f}:1 per entry)",
        code=ErrorCode.STATEMENT_TOO_LARGE,
    )


def _verify_sizes(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: StatementLimits
) -> None:
    total = 0
    sink = _CountingSink()
    for info in infos:
        sink.count = 0
        # zipfile stops at the declared size and checks the CRC, so an entry
        # that really unpacks to more than its directory says fails here.
        with archive.open(info) as entry:
            shutil.copyfileobj(entry, sink, _CHUNK)
        total += sink.count
        if total > limits.max_uncompressed_bytes:
            raise _bomb(f"unpacks to more than {limits.max_uncompressed_bytes} bytes", limits)


class _CountingSink:
    count = 0

    def write(self, chunk: bytes) -> int:
        self.count += len(chunk)
        return len(chunk)
