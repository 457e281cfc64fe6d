"""Read M-Pesa organisation statements (CSV, XLSX, XLS) into typed, classified rows.

This layer only parses: it never touches the database. See docs/statements.md.
"""

from __future__ import annotations

from mpesa_daraja_kit.statements.cells import amount_cell, bool_cell, id_cell, time_cell
from mpesa_daraja_kit.statements.classify import classify, split_details, split_party
from mpesa_daraja_kit.statements.model import (
    DEFAULT_LIMITS,
    EXPECTED_HEADER,
    RowFailure,
    RowResult,
    StatementError,
    StatementFamily,
    StatementFormat,
    StatementLimits,
    StatementPreamble,
    StatementRow,
)
from mpesa_daraja_kit.statements.reader import StatementReader, open_statement

__all__ = [
    "DEFAULT_LIMITS",
    "EXPECTED_HEADER",
    "RowFailure",
    "RowResult",
    "StatementError",
    "StatementFamily",
    "StatementFormat",
    "StatementLimits",
    "StatementPreamble",
    "StatementReader",
    "StatementRow",
    "amount_cell",
    "bool_cell",
    "classify",
    "id_cell",
    "open_statement",
    "split_details",
    "split_party",
    "time_cell",
]
