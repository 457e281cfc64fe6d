"""Measure an XLS's sheets before python-calamine reads them whole.

calamine holds a sheet as a dense grid spanning its cells' bounding box, so a
5 KB XLS with one cell in A1 and one in IV65536 needs about 1 GB. This module
reads just enough of the file to know each sheet's box: the OLE2 compound file
(its FAT, mini FAT and directory) to find the ``Workbook`` stream, then the
BIFF records of that stream, noting the row and column of every value cell.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

__all__ = ["XlsFormatError", "sheet_boxes"]

_END = 0xFFFFFFFE
_BOF = 0x0809
_EOF = 0x000A
_WORKSHEET = 0x0010
# Value cells: FORMULA, LABELSST, NUMBER, LABEL, BOOLERR, RK, RSTRING (row, col first).
_CELLS = frozenset({0x0006, 0x00FD, 0x0203, 0x0204, 0x0205, 0x027E, 0x00D6})
_MULRK = 0x00BD


class XlsFormatError(ValueError):
    """The file is not a readable OLE2 workbook."""


class _Compound:
    """The parts of an OLE2 compound file needed to read one stream."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 512:
            raise XlsFormatError("the OLE2 header is cut short")
        self.data = data
        self.shift = struct.unpack_from("<H", data, 0x1E)[0]
        self.mini_shift = struct.unpack_from("<H", data, 0x20)[0]
        if self.shift not in (9, 12) or self.mini_shift != 6:
            raise XlsFormatError("the OLE2 sector sizes are not 512/4096 and 64")
        self.size = 1 << self.shift
        self.cutoff = struct.unpack_from("<I", data, 0x38)[0]
        self.fat = self._read_fat()
        entries = self._chain_bytes(struct.unpack_from("<I", data, 0x30)[0], self.fat)
        self.entries = [entries[i : i + 128] for i in range(0, len(entries) - 127, 128)]
        if not self.entries:
            raise XlsFormatError("the OLE2 directory is empty")
        root = self.entries[0]
        self.mini_stream = self._chain_bytes(struct.unpack_from("<I", root, 116)[0], self.fat)
        mini_fat = self._chain_bytes(struct.unpack_from("<I", data, 0x3C)[0], self.fat)
        self.mini_fat = list(
            struct.unpack(f"<{len(mini_fat) // 4}I", mini_fat[: len(mini_fat) // 4 * 4])
        )

    def _sector(self, number: int) -> bytes:
        start = (number + 1) << self.shift
        if start >= len(self.data):
            raise XlsFormatError(f"OLE2 sector {number} lies past the end of the file")
        return self.data[start : start + self.size]

    def _read_fat(self) -> list[int]:
        per = self.size // 4
        difat = list(struct.unpack_from("<109I", self.data, 0x4C))
        following = struct.unpack_from("<I", self.data, 0x44)[0]
        for _ in range(len(self.data) // self.size + 1):
            if following >= _END:
                break
            sector = struct.unpack(f"<{per}I", self._sector(following))
            difat.extend(sector[:-1])
            following = sector[-1]
        fat: list[int] = []
        for number in difat:
            if number >= _END:
                continue
            fat.extend(struct.unpack(f"<{per}I", self._sector(number)))
        return fat

    def _chain_bytes(self, start: int, fat: list[int]) -> bytes:
        parts: list[bytes] = []
        number = start
        for _ in range(len(fat) + 1):
            if number >= _END:
                return b"".join(parts)
            if number >= len(fat):
                raise XlsFormatError("an OLE2 sector chain points outside the file")
            parts.append(self._sector(number))
            number = fat[number]
        raise XlsFormatError("an OLE2 sector chain loops")

    def _mini_bytes(self, start: int, size: int) -> bytes:
        parts: list[bytes] = []
        number = start
        for _ in range(len(self.mini_fat) + 1):
            if number >= _END:
                return b"".join(parts)[:size]
            if number >= len(self.mini_fat):
                raise XlsFormatError("an OLE2 mini sector chain points outside the stream")
            offset = number << self.mini_shift
            parts.append(self.mini_stream[offset : offset + 64])
            number = self.mini_fat[number]
        raise XlsFormatError("an OLE2 mini sector chain loops")

    def stream(self, *names: str) -> bytes:
        """Return the first stream named one of ``names`` (case-insensitive)."""
        wanted = {name.lower() for name in names}
        for entry in self.entries:
            length = struct.unpack_from("<H", entry, 64)[0]
            name = entry[: max(length - 2, 0)].decode("utf-16-le", "replace").lower()
            if entry[66] != 2 or name not in wanted:
                continue
            start = struct.unpack_from("<I", entry, 116)[0]
            size = struct.unpack_from("<I", entry, 120)[0]
            if size < self.cutoff:
                return self._mini_bytes(start, size)
            return self._chain_bytes(start, self.fat)[:size]
        raise XlsFormatError("the OLE2 file has no Workbook stream; it is not an XLS workbook")


def _records(stream: bytes) -> Iterator[tuple[int, int, int]]:
    """Yield (type, data offset, data length) for each BIFF record."""
    offset = 0
    end = len(stream) - 3
    while offset < end:
        kind, length = struct.unpack_from("<HH", stream, offset)
        yield kind, offset + 4, length
        offset += 4 + length


def sheet_boxes(file: IO[bytes]) -> list[int]:
    """Return, per worksheet, how many cells its bounding box spans (what calamine allocates).

    Raises:
        XlsFormatError: the file is not an OLE2 workbook this can read.
    """
    data = file.read()
    try:
        stream = _Compound(data).stream("Workbook", "Book")
    except struct.error:
        raise XlsFormatError("the OLE2 structure is cut short") from None
    del data
    boxes: list[int] = []
    box: list[int] | None = None  # min row, max row, min col, max col
    for kind, at, length in _records(stream):
        if kind == _BOF and length >= 4:
            worksheet = struct.unpack_from("<H", stream, at + 2)[0] == _WORKSHEET
            box = [1 << 30, -1, 1 << 30, -1] if worksheet else None
        elif kind == _EOF:
            if box is not None:
                boxes.append(_cells(box))
            box = None
        elif box is not None and length >= 4 and (kind in _CELLS or kind == _MULRK):
            row, first = struct.unpack_from("<HH", stream, at)
            last = first
            if kind == _MULRK and length >= 6:
                last = struct.unpack_from("<H", stream, at + length - 2)[0]
            box[0], box[1] = min(box[0], row), max(box[1], row)
            box[2], box[3] = min(box[2], first), max(box[3], last)
    if box is not None:
        boxes.append(_cells(box))
    return boxes


def _cells(box: list[int]) -> int:
    if box[1] < 0:
        return 0
    return (box[1] - box[0] + 1) * (box[3] - box[2] + 1)
