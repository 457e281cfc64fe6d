"""Statement import against the database: matched, duplicates, gaps and failures, exactly."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.db.models import event_outbox, payment_items, payment_uploads
from mpesa_daraja_kit.enums import CallbackKind, EntryKind, PaymentSource, UploadStatus
from mpesa_daraja_kit.errors import ErrorCode
from mpesa_daraja_kit.events import Account
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.services.callbacks import IncomingCallback
from mpesa_daraja_kit.services.statements import _take_in_thread
from mpesa_daraja_kit.statements import (
    StatementError,
    StatementPreamble,
    StatementRow,
    open_statement,
)
from tests.statements.generator import (
    Quirk,
    StatementSpec,
    c2b_confirmations,
    expected_counts,
    write_family_a_csv,
    write_family_a_xls,
    write_family_a_xlsx,
    write_family_b_csv,
)
from tests.support import API_KEY, HostPlugin, kit_settings, make_kit

FIXTURES = Path(__file__).parents[1] / "fixtures" / "statements"


@pytest.fixture
def plugin() -> HostPlugin:
    return HostPlugin()


@pytest.fixture
async def kit(engine: AsyncEngine, plugin: HostPlugin) -> AsyncIterator[MpesaKit]:
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), plugin)
    kit.statements.batch_size = 50  # several batches even for small files
    yield kit
    await kit.client.aclose()


def csv_bytes(spec: StatementSpec, writer=write_family_a_csv) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    writer(spec, buffer)
    return buffer.getvalue()


async def confirm(kit: MpesaKit, bodies: list[dict[str, str]]) -> None:
    for body in bodies:
        await kit.c2b.handle_confirmation(
            IncomingCallback(
                kind=CallbackKind.C2B_CONFIRMATION,
                body=json.dumps(body).encode(),
                content_type="application/json",
            )
        )


async def count(kit: MpesaKit, *where: object) -> int:
    async with kit.engine.connect() as conn:
        stmt = sa.select(sa.func.count()).select_from(payment_items)
        for clause in where:
            stmt = stmt.where(clause)  # type: ignore[arg-type]
        return int(await conn.scalar(stmt) or 0)


async def upload_status(kit: MpesaKit) -> tuple[UploadStatus, str | None]:
    """Return the status and error of the only upload."""
    async with kit.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(payment_uploads.c.status, payment_uploads.c.error))
        ).one()
    return row.status, row.error


def check_invariant(report: object) -> None:
    r = report
    assert r.total_statement_items == (  # type: ignore[attr-defined]
        r.matched_ipn_records + r.duplicate_statement_records + r.gaps_filled + r.failed_item_count  # type: ignore[attr-defined]
    )


async def test_fixture_statement_fills_gaps(kit: MpesaKit, plugin: HostPlugin) -> None:
    path = FIXTURES / "ORG_600123_Utility Account_Completed_20251005080113.csv"
    report = await kit.statements.import_file(str(path), uploaded_by="finance-1")
    assert report.status is UploadStatus.COMPLETED
    assert report.total_statement_items == 5
    assert (report.gaps_filled, report.matched_ipn_records, report.duplicate_statement_records) == (
        5,
        0,
        0,
    )
    assert report.breakdown == {"payments": 2, "charge": 2, "sweep": 1}
    assert report.short_code == "600123"
    assert report.uploaded_by == "finance-1"
    assert len(report.file_sha256) == 64
    assert await count(kit, payment_items.c.source == PaymentSource.STATEMENT) == 5
    recorded = plugin.of("mpesa_payment_recorded")
    assert sorted(e.receipt_number for e in recorded) == ["TJ4A7Q2ZK1", "TJ4C9R5WD8"]
    assert {e.source for e in recorded} == {"STATEMENT"}
    # pol0099881 is a known account typed in lower case: tagged, not unmatched.
    assert [e.receipt_number for e in plugin.of("mpesa_payment_unmatched")] == []
    (imported,) = plugin.of("mpesa_statement_imported")
    assert imported.gaps_filled == 5


async def test_all_rows_already_known_via_ipn(kit: MpesaKit) -> None:
    spec = StatementSpec(seed=3, rows=120)
    await confirm(kit, list(c2b_confirmations(spec, share=1.0)))
    counts = expected_counts(spec)
    report = await kit.statements.import_file(csv_bytes(spec))
    check_invariant(report)
    assert report.matched_ipn_records == counts["RECEIVED"]
    assert (
        report.gaps_filled == report.total_statement_items - counts["RECEIVED"]
    )  # charges, sweeps…
    assert report.breakdown.get("payments", 0) == 0
    assert await count(kit, payment_items.c.entry_kind == EntryKind.RECEIVED) == counts["RECEIVED"]
    assert (
        await count(
            kit,
            payment_items.c.confirmed_by_statement_at.is_not(None),
            payment_items.c.source == PaymentSource.IPN,
        )
        == counts["RECEIVED"]
    )


async def test_none_known_all_gaps(kit: MpesaKit) -> None:
    spec = StatementSpec(seed=4, rows=120)
    report = await kit.statements.import_file(csv_bytes(spec))
    check_invariant(report)
    assert report.matched_ipn_records == 0
    assert report.gaps_filled == report.total_statement_items == spec.rows
    assert report.breakdown["payments"] == expected_counts(spec)["RECEIVED"]


async def test_mixed_and_reimport_and_overlap(kit: MpesaKit, plugin: HostPlugin) -> None:
    spec = StatementSpec(seed=5, rows=200)
    known = list(c2b_confirmations(spec, share=0.5, seed=1))
    await confirm(kit, known)
    counts = expected_counts(spec)
    first = await kit.statements.import_file(csv_bytes(spec))
    check_invariant(first)
    assert first.matched_ipn_records == len(known)
    assert first.breakdown["payments"] == counts["RECEIVED"] - len(known)
    rows_after_first = await count(kit)

    again = await kit.statements.import_file(csv_bytes(spec))  # the same file again
    check_invariant(again)
    assert again.duplicate_statement_records == again.total_statement_items == spec.rows
    assert (again.matched_ipn_records, again.gaps_filled) == (0, 0)

    longer = StatementSpec(seed=5, rows=260)  # a later export overlapping the first
    overlap = await kit.statements.import_file(csv_bytes(longer))
    check_invariant(overlap)
    assert overlap.gaps_filled + overlap.duplicate_statement_records == longer.rows
    assert await count(kit) == rows_after_first + overlap.gaps_filled
    receipts = [e.receipt_number for e in plugin.of("mpesa_payment_recorded")]
    assert len(receipts) == len(set(receipts))  # one recorded event per receipt, ever


async def test_concurrent_uploads_of_one_file_store_each_row_once(kit: MpesaKit) -> None:
    spec = StatementSpec(seed=6, rows=150)
    data = csv_bytes(spec)
    a, b = await asyncio.gather(kit.statements.import_file(data), kit.statements.import_file(data))
    for report in (a, b):
        check_invariant(report)
    assert a.gaps_filled + b.gaps_filled == spec.rows
    assert await count(kit) == spec.rows


async def test_concurrent_uploads_match_each_ipn_record_once(kit: MpesaKit) -> None:
    spec = StatementSpec(seed=16, rows=150)
    known = list(c2b_confirmations(spec, share=0.5, seed=2))
    await confirm(kit, known)
    data = csv_bytes(spec)
    a, b = await asyncio.gather(kit.statements.import_file(data), kit.statements.import_file(data))
    for report in (a, b):
        check_invariant(report)
    # The database decides which upload confirms an IPN row; the other counts a duplicate.
    assert a.matched_ipn_records + b.matched_ipn_records == len(known)
    assert a.gaps_filled + b.gaps_filled == spec.rows - len(known)
    assert a.duplicate_statement_records + b.duplicate_statement_records == spec.rows


async def test_two_writers_planned_on_the_same_lookup_confirm_each_ipn_row_once(
    kit: MpesaKit,
) -> None:
    # The race, made deterministic: both batches are looked up before either is written
    # (two uploads at once on PostgreSQL or MariaDB). Only the first write confirms.
    spec = StatementSpec(seed=18, rows=40)
    known = list(c2b_confirmations(spec, share=1.0, seed=4))
    await confirm(kit, known)
    with open_statement(csv_bytes(spec)) as statement:
        rows = [r for r in statement.rows() if isinstance(r, StatementRow)]
    service = kit.statements
    upload = (await service.import_file(csv_bytes(StatementSpec(seed=19, rows=1)))).id
    preamble = StatementPreamble()
    async with kit.engine.connect() as conn:
        first = await service._plan_batch(conn, upload, rows, preamble, {})
        second = await service._plan_batch(conn, upload, rows, preamble, {})
    assert len(first.confirm) == len(second.confirm) == len(known)
    async with kit.engine.begin() as conn:
        one = await service._apply(conn, first, careful=False)
    with pytest.raises(sa.exc.IntegrityError):  # its gaps were stored by the first
        async with kit.engine.begin() as conn:
            await service._apply(conn, second, careful=False)
    async with kit.engine.begin() as conn:
        two = await service._apply(conn, second, careful=True)
    assert (one.matched, two.matched) == (len(known), 0)
    assert two.duplicates == len(rows)
    assert two.gaps == 0


async def test_the_careful_path_queues_events_only_for_payments_it_stored(kit: MpesaKit) -> None:
    # Another writer (say an STK callback, which queues no "unmatched" event) stores a
    # receipt between the batch's look-up and its write: the careful redo skips that
    # payment, and its events too.
    spec = StatementSpec(seed=20, rows=40)
    first, *_ = c2b_confirmations(spec, share=1.0, seed=5)
    with open_statement(csv_bytes(spec)) as statement:
        rows = [r for r in statement.rows() if isinstance(r, StatementRow)]
    service = kit.statements
    upload = (await service.import_file(csv_bytes(StatementSpec(seed=21, rows=1)))).id
    unknown = {
        key: (None, False) for key in {r.account_number.upper() for r in rows if r.account_number}
    }
    async with kit.engine.connect() as conn:
        planned = await service._plan_batch(conn, upload, rows, StatementPreamble(), unknown)
    racing = first["TransID"]
    ours = {row.receipt: pid for row, pid in zip(planned.gaps, planned.gap_ids, strict=True)}
    skipped = str(uuid.UUID(ours[racing]))  # the payment the careful redo will not store
    async with kit.engine.begin() as conn:
        await conn.execute(
            sa.insert(payment_items).values(
                id=uuid.uuid4(),
                transaction_reference=racing,
                source=PaymentSource.STK_CALLBACK,
                completion_time=planned.now,
                created_at=planned.now,
                updated_at=planned.now,
            )
        )
    async with kit.engine.begin() as conn:
        outcome = await service._apply(conn, planned, careful=True)
    assert outcome.duplicates == 1
    async with kit.engine.connect() as conn:
        events = (await conn.execute(sa.select(event_outbox))).all()
    assert [e.dedupe_key for e in events if e.payload.get("payment_id") == skipped] == []
    assert f"payment_unmatched:{racing}" not in {e.dedupe_key for e in events}
    keys = {e.dedupe_key for e in events}
    others = {row.receipt for row in planned.gaps if row.kind is EntryKind.RECEIVED} - {racing}
    assert {f"payment_recorded:{r}" for r in others} <= keys
    assert {f"payment_unmatched:{r}" for r in others} <= keys


async def test_a_cancelled_import_is_marked_failed_and_its_file_left_cleanly(
    kit: MpesaKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()
    real = kit.statements._import_batch

    async def slow(*args: object, **kwargs: object) -> object:
        started.set()
        await asyncio.sleep(0.05)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kit.statements, "_import_batch", slow)
    task = asyncio.create_task(
        kit.statements.import_file(csv_bytes(StatementSpec(seed=22, rows=600)))
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status, error = await upload_status(kit)
    assert status is UploadStatus.FAILED
    assert "CancelledError" in error


async def test_cancelling_a_read_in_a_thread_waits_for_the_thread() -> None:
    entered, release = threading.Event(), threading.Event()

    def source() -> Iterator[int]:
        entered.set()
        release.wait(5)
        yield from range(3)

    rows = source()
    task = asyncio.create_task(_take_in_thread(rows, 10))
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # the thread still holds the generator
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows.close()  # not "generator already executing"


async def test_a_row_repeated_in_a_later_batch_is_a_duplicate(kit: MpesaKit) -> None:
    spec = StatementSpec(seed=17, rows=120)
    known = list(c2b_confirmations(spec, share=0.5, seed=3))
    await confirm(kit, known)
    lines = csv_bytes(spec).decode().splitlines(keepends=True)
    header_at = next(i for i, line in enumerate(lines) if line.startswith("Receipt No."))
    data_rows = lines[header_at + 1 :]
    # The whole statement twice in one file: every repeat lands in a later batch.
    report = await kit.statements.import_file("".join(lines + data_rows).encode())
    check_invariant(report)
    assert report.matched_ipn_records == len(known)
    assert report.gaps_filled == spec.rows - len(known)
    assert report.duplicate_statement_records == spec.rows


async def test_broken_rows_are_reported_and_never_stop_the_rest(kit: MpesaKit) -> None:
    spec = StatementSpec(seed=7, rows=150, quirks={Quirk.BROKEN_ROWS, Quirk.NOT_COMPLETED})
    counts = expected_counts(spec)
    report = await kit.statements.import_file(csv_bytes(spec))
    check_invariant(report)
    assert report.failed_item_count == counts["FAILED"] > 0
    assert all(item.row > 7 and item.reason for item in report.failed_items)
    assert report.gaps_filled == spec.rows - counts["FAILED"]
    assert report.breakdown.get("not_completed", 0) == counts["NOT_COMPLETED"]


@pytest.mark.parametrize("writer", [write_family_a_xlsx, write_family_a_xls, write_family_b_csv])
async def test_other_formats_import_the_same(kit: MpesaKit, writer: object, tmp_path: Path) -> None:
    spec = StatementSpec(
        seed=8,
        rows=90,
        quirks={Quirk.DATE_CELLS, Quirk.FLOAT_ACCOUNT}
        if writer is not write_family_b_csv
        else set(),
    )
    path = tmp_path / "statement.bin"
    writer(spec, str(path))  # type: ignore[operator]
    report = await kit.statements.import_file(str(path))
    check_invariant(report)
    assert report.failed_item_count == 0
    assert report.gaps_filled + report.duplicate_statement_records == spec.rows


async def test_every_quirk_imports_without_loss(kit: MpesaKit) -> None:
    quirks = set(Quirk) - {Quirk.BROKEN_ROWS, Quirk.CP1252}
    spec = StatementSpec(seed=9, rows=150, quirks=quirks)
    report = await kit.statements.import_file(csv_bytes(spec))
    check_invariant(report)
    assert report.failed_item_count == 0


async def test_not_a_statement_stores_nothing(kit: MpesaKit) -> None:
    with pytest.raises(StatementError, match="Receipt No"):
        await kit.statements.import_file(b"name,amount\nalice,5\n")
    async with kit.engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(payment_uploads)) == 0


async def test_a_failing_batch_is_retried_then_reported_and_the_upload_is_partial(
    kit: MpesaKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = StatementSpec(seed=10, rows=150)
    real = kit.statements._write_batch
    calls = {"n": 0}

    async def flaky(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] in (2, 3):  # the second batch fails twice: first try and its retry
            raise sa.exc.OperationalError("INSERT", {}, Exception("connection reset"))
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kit.statements, "_write_batch", flaky)
    report = await kit.statements.import_file(csv_bytes(spec))
    check_invariant(report)
    assert report.status is UploadStatus.PARTIAL
    assert report.failed_item_count == kit.statements.batch_size
    assert "database error" in report.failed_items[0].reason
    assert await count(kit) == spec.rows - kit.statements.batch_size


async def test_upload_route_and_report_and_payments_list(
    engine: AsyncEngine, plugin: HostPlugin
) -> None:
    plugin.accounts["POL0077001"] = Account(reference="POL0077001", account_id="policy-9")
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), plugin)
    transport = httpx.ASGITransport(app=kit.internal_app)
    path = FIXTURES / "Statements for 600123 from 2026-10-01 to 2026-10-01.csv"
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        refused = await http.post("/statements", files={"file": ("s.csv", b"x")})
        assert refused.status_code == 401
        response = await http.post(
            "/statements",
            files={"file": (path.name, path.read_bytes(), "text/csv")},
            headers={"X-API-Key": API_KEY},
        )
        assert response.status_code == 201, response.text
        dto = response.json()
        assert dto["totalStatementItems"] == 2
        assert dto["gapsFilled"] == 2
        assert dto["matchedIpnRecords"] == 0
        assert dto["failedItems"] == []
        assert dto["uploadedBy"] == "agent-7"
        again = await http.get(f"/statements/{dto['id']}", headers={"X-API-Key": API_KEY})
        assert again.json() == dto
        bad = await http.post(
            "/statements", files={"file": ("x.csv", b"a,b\n1,2\n")}, headers={"X-API-Key": API_KEY}
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == ErrorCode.STATEMENT_INVALID
        listed = await http.get(
            "/payments",
            params={"source": "STATEMENT", "account": "pol0077001"},
            headers={"X-API-Key": API_KEY},
        )
        assert listed.status_code == 200
        (item,) = listed.json()["items"]
        assert item["transactionReference"] == "UA1C9R5WD8"
        assert item["paidIn"] == "1100.00"
        assert item["hostAccountId"] == "policy-9"
        unlinked = await http.get(
            "/payments", params={"linked": "false"}, headers={"X-API-Key": API_KEY}
        )
        assert len(unlinked.json()["items"]) == 2
        wrong = await http.get(
            "/payments", params={"source": "FAX"}, headers={"X-API-Key": API_KEY}
        )
        assert wrong.status_code == 400
    await kit.client.aclose()


def test_cli_import(
    tmp_path: Path, database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mpesa_daraja_kit.cli import get_command

    monkeypatch.setenv("MPESA_ENVIRONMENT", "simulator")
    path = FIXTURES / "ORG_600123_Utility Account_Completed_20251005080113.csv"
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    assert runner.invoke(get_command(), ["db", "upgrade", "--url", url]).exit_code == 0
    result = runner.invoke(
        get_command(), ["statements", "import", "--url", url, "--quiet", str(path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["totalStatementItems"] == 5
    assert report["gapsFilled"] == 5
    again = runner.invoke(
        get_command(), ["statements", "import", "--url", url, "--quiet", str(path)]
    )
    assert json.loads(again.output)["duplicateStatementRecords"] == 5
    bad = tmp_path / "not.csv"
    bad.write_text("a,b\n1,2\n")
    refused = runner.invoke(get_command(), ["statements", "import", "--url", url, str(bad)])
    assert refused.exit_code == 1
    assert "statement_invalid" in refused.output


async def test_a_failing_account_hook_never_stops_the_import(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    class Down(dict):  # type: ignore[type-arg]
        def get(self, *args: object) -> None:  # type: ignore[override]
            raise RuntimeError("policy service down")

    plugin.accounts = Down()
    spec = StatementSpec(seed=11, rows=60)
    report = await kit.statements.import_file(csv_bytes(spec))
    check_invariant(report)
    assert report.status is UploadStatus.COMPLETED
    assert report.gaps_filled == spec.rows


async def test_an_import_that_breaks_is_marked_failed_not_left_processing(
    kit: MpesaKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("bug")

    monkeypatch.setattr(kit.statements, "_import_batch", broken)
    with pytest.raises(RuntimeError):
        await kit.statements.import_file(csv_bytes(StatementSpec(seed=12, rows=60)))
    status, error = await upload_status(kit)
    assert status is UploadStatus.FAILED
    assert "RuntimeError" in error
