"""Every quirk of real files, through the generator and back through the reader."""

from __future__ import annotations

from collections import Counter

import pytest

from mpesa_daraja_kit.enums import EntryKind
from mpesa_daraja_kit.statements import RowFailure, StatementRow, open_statement
from tests.statements.conftest import build
from tests.statements.generator import (
    EXCEL_RESAVE,
    Quirk,
    StatementSpec,
    TruthRow,
    expected_counts,
    family_b_truth,
    generate_rows,
)

COMPARED = (
    "receipt", "completion_time", "initiation_time", "details", "transaction_status", "paid_in",
    "withdrawn", "balance", "reason_type_raw", "other_party_info", "account_number", "kind",
    "direction",
)  # fmt: skip
KINDS = ("a-csv", "a-xlsx", "a-xls", "b-csv")
QUIRK_SETS = [frozenset(), *[frozenset({q}) for q in Quirk], EXCEL_RESAVE]


def _truth(spec: StatementSpec, kind: str) -> list[TruthRow]:
    rows = list(generate_rows(spec))
    return [family_b_truth(row) for row in rows] if kind == "b-csv" else rows


def assert_round_trip(spec: StatementSpec, kind: str) -> list[StatementRow | RowFailure]:
    """Write ``spec`` as ``kind``, read it back, and compare every row with the truth."""
    numbers: list[int] = []
    data = build(spec, kind, numbers)
    with open_statement(data) as statement:
        assert statement.family == ("B" if kind == "b-csv" else "A")
        assert statement.format == kind.split("-")[1]
        results = list(statement.rows())
    truth = _truth(spec, kind)
    assert len(results) == len(truth) == spec.rows
    for result, expected, number in zip(results, truth, numbers, strict=True):
        assert result.row_number == number
        if expected.broken:
            assert isinstance(result, RowFailure), (expected, result)
            continue
        assert isinstance(result, StatementRow), (expected, result)
        fields = (
            COMPARED if kind != "b-csv" else tuple(f for f in COMPARED if "initiation" not in f)
        )
        got = {f: getattr(result, f) for f in fields}
        want = {f: getattr(expected, f) for f in fields}
        assert got == want, number
        if kind != "b-csv":
            assert result.balance_confirmed is True
            assert result.currency == ("KES" if Quirk.CURRENCY_COLUMN in spec.quirks else None)
    return results


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("quirks", QUIRK_SETS, ids=lambda q: "+".join(sorted(q)) or "plain")
def test_each_quirk_round_trips(kind: str, quirks: frozenset[Quirk]) -> None:
    assert_round_trip(StatementSpec(seed=11, rows=120, quirks=quirks), kind)


@pytest.mark.parametrize("kind", KINDS)
def test_all_quirks_at_once(kind: str) -> None:
    quirks = frozenset(Quirk) - {Quirk.BOM}  # BOM and cp1252 exclude each other
    assert_round_trip(StatementSpec(seed=12, rows=300, quirks=quirks), kind)
    assert_round_trip(
        StatementSpec(seed=13, rows=300, quirks=frozenset(Quirk) - {Quirk.CP1252}), kind
    )


def test_counts_match_the_generator_exactly() -> None:
    quirks = {Quirk.NOT_COMPLETED, Quirk.BROKEN_ROWS}
    spec = StatementSpec(seed=21, rows=2000, quirks=quirks, pair_share=0.05)
    results = assert_round_trip(spec, "a-csv")
    got = Counter(r.kind.value if isinstance(r, StatementRow) else "FAILED" for r in results)
    want = expected_counts(spec)
    assert got == want
    # the spec really produced every kind, so the counts say something
    assert all(want[k] > 0 for k in [*(kind.value for kind in EntryKind), "FAILED"])


def test_charge_twins_share_their_payments_receipt_and_time() -> None:
    results = assert_round_trip(StatementSpec(seed=3, rows=400), "a-csv")
    rows = [r for r in results if isinstance(r, StatementRow)]
    charges = [r for r in rows if r.kind is EntryKind.CHARGE]
    assert charges
    received = {r.receipt: r for r in rows if r.kind is EntryKind.RECEIVED}
    for charge in charges:
        payment = received[charge.receipt]
        assert payment.completion_time == charge.completion_time
        assert payment.entry_key != charge.entry_key


def test_internal_pairs_are_sweeps_on_both_legs() -> None:
    spec = StatementSpec(seed=4, rows=600, pair_share=0.1)
    rows = [r for r in assert_round_trip(spec, "a-csv") if isinstance(r, StatementRow)]
    pairs = [r for r in rows if r.reason_type_raw == "Organization Funds Transfer"]
    assert pairs and all(r.kind is EntryKind.SWEEP for r in pairs)
    assert {r.direction.value for r in pairs} == {"IN", "OUT"}


def test_float_account_loses_leading_zeros_but_never_gets_dot_zero() -> None:
    spec = StatementSpec(seed=8, rows=400, quirks={Quirk.FLOAT_ACCOUNT})
    for kind in ("a-csv", "a-xlsx", "a-xls"):
        rows = [r for r in assert_round_trip(spec, kind) if isinstance(r, StatementRow)]
        accounts = [r.account_number for r in rows if r.account_number]
        assert any(a.isdigit() for a in accounts)
        assert not any(a.endswith(".0") for a in accounts)


def test_generator_is_deterministic_and_exact_in_length() -> None:
    spec = StatementSpec(seed=99, rows=257)
    assert list(generate_rows(spec)) == list(generate_rows(spec))
    assert len(list(generate_rows(spec))) == 257
    assert build(spec, "a-csv") == build(spec, "a-csv")
    other = list(generate_rows(StatementSpec(seed=98, rows=257)))
    assert other != list(generate_rows(spec))


def test_rows_come_newest_first() -> None:
    times = [r.completion_time for r in generate_rows(StatementSpec(seed=5, rows=500))]
    assert times == sorted(times, reverse=True)
