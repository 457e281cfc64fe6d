"""The statement service: an upload row, its batches, its final statistics and event."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any, BinaryIO

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mpesa_daraja_kit.db.models import payment_uploads
from mpesa_daraja_kit.enums import UploadStatus
from mpesa_daraja_kit.errors import NotFound
from mpesa_daraja_kit.events import StatementImported
from mpesa_daraja_kit.services.statements.batches import StatementBatches
from mpesa_daraja_kit.services.statements.rows import (
    FailedItem,
    _clip,
    _preamble_json,
    _take_in_slices,
    _take_in_thread,
    _Tally,
    _unique_rows,
    log,
)
from mpesa_daraja_kit.statements import StatementReader, open_statement

__all__ = ["StatementService", "UploadReport"]


@attrs.frozen(kw_only=True)
class UploadReport:
    """An upload and its statistics (``MpesaPaymentUploadResponseDto``)."""

    id: uuid.UUID
    file_name: str
    file_sha256: str
    file_format: str
    family: str
    status: UploadStatus
    uploaded_by: str | None
    short_code: str | None
    period_from: datetime | None
    period_to: datetime | None
    total_statement_items: int
    matched_ipn_records: int
    duplicate_statement_records: int
    gaps_filled: int
    failed_item_count: int
    failed_items: tuple[FailedItem, ...]
    breakdown: dict[str, int]
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration_ms(self) -> int | None:
        """Return how long the import took, in milliseconds."""
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    @classmethod
    def from_row(cls, row: Any) -> UploadReport:
        """Build the report from a ``mpesa_payment_report_uploads`` row."""
        return cls(
            id=row.id,
            file_name=row.file_name,
            file_sha256=row.file_sha256,
            file_format=row.file_format,
            family=row.family,
            status=row.status,
            uploaded_by=row.uploaded_by,
            short_code=row.short_code,
            period_from=row.period_from,
            period_to=row.period_to,
            total_statement_items=row.total_statement_items,
            matched_ipn_records=row.matched_ipn_records,
            duplicate_statement_records=row.duplicate_statement_records,
            gaps_filled=row.gaps_filled,
            failed_item_count=row.failed_item_count,
            failed_items=tuple(FailedItem(f["row"], f["reason"]) for f in row.failed_items or ()),
            breakdown=dict(row.breakdown or {}),
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


class StatementService(StatementBatches):
    """Import statements and report on uploads."""

    # -- reading ------------------------------------------------------------------------

    async def get(self, upload_id: uuid.UUID | str) -> UploadReport:
        """Return one upload's report."""
        try:
            key = uuid.UUID(str(upload_id))
        except ValueError:
            raise NotFound(f"no statement upload {str(upload_id)[:100]!r}") from None
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(payment_uploads).where(payment_uploads.c.id == key))
            ).first()
        if row is None:
            raise NotFound(f"no statement upload {upload_id}")
        return UploadReport.from_row(row)

    # -- importing ----------------------------------------------------------------------

    async def import_file(
        self,
        source: bytes | str | BinaryIO | Any,
        *,
        uploaded_by: str | None = None,
        filename: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> UploadReport:
        """Import a statement file (bytes, a path, or a binary file object).

        Raises:
            StatementError: the file is not a statement the kit can read, or too large
                (nothing is stored).
        """
        reader = await asyncio.to_thread(
            open_statement, source, max_bytes=self._settings.statement_max_bytes, filename=filename
        )
        try:
            return await self._import(reader, uploaded_by, filename, progress)
        finally:
            await asyncio.to_thread(reader.close)

    async def _import(
        self,
        reader: StatementReader,
        uploaded_by: str | None,
        filename: str | None,
        progress: Callable[[int], None] | None,
    ) -> UploadReport:
        started = self._clock()
        upload_id = uuid.uuid4()
        preamble = reader.preamble
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(payment_uploads).values(
                    id=upload_id,
                    file_name=(filename or getattr(reader, "filename", None) or "")[:255],
                    file_sha256=reader.sha256,
                    file_size=getattr(reader, "size", 0) or 0,
                    file_format=reader.format,
                    family=reader.family,
                    uploaded_by=_clip(uploaded_by, 255),
                    status=UploadStatus.PROCESSING,
                    short_code=_clip(preamble.short_code, 20),
                    period_from=preamble.period_from,
                    period_to=preamble.period_to,
                    preamble=_preamble_json(preamble),
                    started_at=started,
                    created_at=started,
                )
            )
        tally = _Tally()
        rows = reader.rows()
        accounts_seen: dict[str, tuple[str | None, bool]] = {}  # this import's own
        t0 = time.perf_counter()
        # The first batch is read in a worker thread (so the event loop keeps answering
        # callbacks). On a database server, each next batch is read while the server
        # writes the previous one: in the event loop itself, a slice of rows at a time,
        # so the loop stays responsive and the driver's wake-ups are never kept
        # waiting. A worker thread reading alongside was measured slower: it holds the
        # GIL, and every hop of the driver back to the loop then waits a switch
        # interval (5 ms). SQLite writes in a thread of its own that needs the GIL for
        # every row, so there the batches are read and written in turn.
        read_ahead = self._engine.dialect.name != "sqlite"
        partial = False
        ahead: asyncio.Future[list[Any]] | None = None
        try:
            batch = await _take_in_thread(rows, self.batch_size)
            while batch:
                parsed = _unique_rows(batch, tally)
                if read_ahead:
                    ahead = asyncio.ensure_future(_take_in_slices(rows, self.batch_size))
                if parsed:
                    accounts = await self._lookup_accounts(parsed, accounts_seen)
                    if not await self._import_batch(upload_id, parsed, accounts, preamble, tally):
                        partial = True
                if progress is not None:
                    progress(len(batch))
                if ahead is not None:
                    batch, ahead = await ahead, None
                else:
                    batch = await _take_in_thread(rows, self.batch_size)
        except (Exception, asyncio.CancelledError) as exc:
            # Whatever broke (a reader error, a bug, a shutdown), the upload must not stay
            # PROCESSING: what was stored so far is counted, and the reason kept.
            if isinstance(exc, asyncio.CancelledError):
                log.warning("statement import cancelled", extra={"upload_id": str(upload_id)})
            else:
                log.exception("statement import stopped", extra={"upload_id": str(upload_id)})
            try:
                async with self._engine.begin() as conn:
                    await self._finish(
                        conn,
                        upload_id,
                        tally,
                        UploadStatus.FAILED,
                        self._clock(),
                        type(exc).__name__,
                    )
            except Exception:
                if not isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("a cancelled statement import could not be marked FAILED")
            raise
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            if isinstance(rows, Generator):  # its file is closed next: end it while still open
                rows.close()
        finished = self._clock()
        status = UploadStatus.PARTIAL if partial else UploadStatus.COMPLETED
        log.info(
            "statement imported",
            extra={
                "upload_id": str(upload_id),
                "rows": tally.total,
                "matched": tally.matched,
                "duplicates": tally.duplicates,
                "gaps": tally.gaps,
                "failed": tally.failed,
                "seconds": round(time.perf_counter() - t0, 3),
            },
        )
        async with self._outbox.transaction() as conn:
            await self._finish(conn, upload_id, tally, status, finished)
            await self._outbox.add(
                conn,
                StatementImported(
                    occurred_at=self._clock(),
                    upload_id=str(upload_id),
                    status=status.value,
                    total_statement_items=tally.total,
                    matched_ipn_records=tally.matched,
                    duplicate_statement_records=tally.duplicates,
                    gaps_filled=tally.gaps,
                    failed_items=tally.failed,
                ),
            )
        return await self.get(upload_id)

    async def _finish(
        self,
        conn: AsyncConnection,
        upload_id: uuid.UUID,
        tally: _Tally,
        status: UploadStatus,
        finished: datetime,
        error: str | None = None,
    ) -> None:
        """Write an upload's final status and statistics."""
        await conn.execute(
            sa.update(payment_uploads)
            .where(payment_uploads.c.id == upload_id)
            .values(
                status=status,
                total_statement_items=tally.total,
                matched_ipn_records=tally.matched,
                duplicate_statement_records=tally.duplicates,
                gaps_filled=tally.gaps,
                failed_item_count=tally.failed,
                failed_items=[attrs.asdict(f) for f in tally.failures],
                breakdown=tally.breakdown,
                error=f"import stopped: {error}"[:1000] if error else None,
                finished_at=finished,
            )
        )
