"""Factories for statement tests: fixture paths, generated files, a reader over them."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mpesa_daraja_kit.statements import RowResult, open_statement
from tests.statements.generator import (
    StatementSpec,
    write_family_a_csv,
    write_family_a_xls,
    write_family_a_xlsx,
    write_family_b_csv,
)

STATEMENT_FIXTURES = Path(__file__).parents[1] / "fixtures" / "statements"
FAMILY_A_CSV = STATEMENT_FIXTURES / "ORG_600123_Utility Account_Completed_20251005080113.csv"
FAMILY_B_CSV = STATEMENT_FIXTURES / "Statements for 600123 from 2026-10-01 to 2026-10-01.csv"

WRITERS: dict[str, Callable[..., None]] = {
    "a-csv": write_family_a_csv,
    "a-xlsx": write_family_a_xlsx,
    "a-xls": write_family_a_xls,
    "b-csv": write_family_b_csv,
}


def build(spec: StatementSpec, kind: str, row_numbers: list[int] | None = None) -> bytes:
    """Return the bytes of ``spec`` written as ``kind`` (see WRITERS)."""
    buffer = io.BytesIO()
    WRITERS[kind](spec, buffer, row_numbers=row_numbers)
    return buffer.getvalue()


def read_all(data: bytes | Path, **kwargs: Any) -> list[RowResult]:
    """Open a statement and return every row result."""
    with open_statement(data, **kwargs) as statement:
        return list(statement.rows())


@pytest.fixture
def make_statement() -> Callable[..., bytes]:
    """Build a generated statement: ``make_statement(kind="a-csv", rows=40, quirks=...)``."""

    def make(kind: str = "a-csv", **spec: Any) -> bytes:
        return build(StatementSpec(**spec), kind)

    return make
