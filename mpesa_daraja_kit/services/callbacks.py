"""The callback log: every body Safaricom sends, kept exactly as received, before parsing.

Rule 1 of the kit (docs/architecture.md#raw-body-first): nothing Safaricom sends is
lost. The raw bytes are committed first, in their own short transaction; parsing and applying come
after, and their outcome is written back to the same row. A body that fails to
parse stays ``FAILED`` with its reason until it is fixed and replayed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.db.models import callback_log
from mpesa_daraja_kit.db.queries import (
    is_transient_conflict,
    is_unavailable_condition,
    is_unique_violation,
)
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.errors import ErrorCode, MpesaKitError
from mpesa_daraja_kit.log import get_logger
from mpesa_daraja_kit.text import storable_text

__all__ = [
    "CallbackLogService",
    "CallbackRecord",
    "CallbackSpooled",
    "IncomingCallback",
    "is_database_unavailable",
]

log = get_logger("callbacks")


class CallbackSpooled(MpesaKitError):
    """The database was unavailable; the callback body is safe in the spool instead."""

    code = ErrorCode.CALLBACK_SPOOLED


def is_database_unavailable(exc: BaseException) -> bool:
    """Tell whether ``exc`` means "the database cannot take this now" (not a data error).

    Besides lost connections and pool time-outs, a server out of connections,
    shutting down, read-only after a failover or out of disk is unavailability,
    whatever exception class the driver gives it (see ``is_unavailable_condition``),
    and so is a deadlock or serialization failure that outlasted its retries: the
    body is tried again later. A value the driver refuses to send (asyncpg and
    sqlite3 raise those as interface errors) is a data error.
    """
    if is_unavailable_condition(exc) or is_transient_conflict(exc):
        return True
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    if isinstance(exc, InterfaceError):
        refused = (exc.orig, getattr(exc.orig, "__cause__", None))
        return bool(exc.connection_invalidated) or not any(
            isinstance(e, ValueError | TypeError) for e in refused
        )
    if isinstance(exc, OperationalError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, OSError | TimeoutError | ConnectionError)


_T = callback_log


@attrs.frozen(kw_only=True)
class IncomingCallback:
    """A callback body and what is known of its delivery."""

    kind: CallbackKind
    body: bytes
    content_type: str | None = None
    source_address: str | None = None
    correlation_id: str | None = None
    received_at: datetime | None = None
    delivery_id: str | None = None
    """Unique per body received (given when it is first stored or spooled)."""

    def with_delivery_id(self) -> IncomingCallback:
        """Return this callback with a delivery id (a new one unless it has one)."""
        return self if self.delivery_id else attrs.evolve(self, delivery_id=uuid.uuid4().hex)


@attrs.frozen(kw_only=True)
class CallbackRecord:
    """One stored callback."""

    id: int
    kind: CallbackKind
    outcome: CallbackOutcome
    raw_body: bytes
    content_type: str | None
    source_address: str | None
    correlation_id: str | None
    reference: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    received_at: datetime
    processed_at: datetime | None


# Every callback runs these two: built once, executed with parameters (no per-call
# statement construction or cache-key work).
_INSERT = sa.insert(_T)
_MARK = (
    sa.update(_T)
    .where(_T.c.id == sa.bindparam("log_id"))
    .values(
        outcome=sa.bindparam("new_outcome"),
        processed_at=sa.bindparam("now"),
        attempts=_T.c.attempts + 1,
        error_code=sa.bindparam("new_error_code"),
        error_message=sa.bindparam("new_error_message"),
    )
)
_MARK_WITH_REFERENCE = _MARK.values(reference=sa.bindparam("new_reference"))


class CallbackLogService:
    """Store callback bodies and record what became of them."""

    def __init__(
        self, engine: AsyncEngine, *, clock: Clock = utc_now, spool: Any | None = None
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.spool = spool
        """A ``CallbackSpool`` for bodies that arrive while the database is unavailable."""
        self.unavailable_since: datetime | None = None
        """When a body last had to be spooled, until one is stored again (readiness)."""

    async def store(self, incoming: IncomingCallback, *, spool_on_failure: bool = True) -> int:
        """Commit the raw body and return its log id (before anything is parsed).

        Raises:
            CallbackSpooled: the database was unavailable and the body went to the
                spool instead (it is replayed when the database is back).
        """
        incoming = incoming.with_delivery_id()
        try:
            return await self._insert(incoming)
        except Exception as exc:
            if spool_on_failure:
                await self._spool_or_raise(incoming, exc)
            raise

    async def store_once(self, incoming: IncomingCallback) -> int | None:
        """Store a spooled body unless its delivery is stored already; None when it is.

        The first attempt may have committed although the kit never heard so (the
        connection dropped during COMMIT), or a worker may have died between
        storing a spooled body and deleting its file.
        """
        async with self._engine.begin() as conn:
            try:
                async with conn.begin_nested():
                    # Stamped as being processed now, so the sweep leaves it to this replay.
                    return await self._insert_on(
                        conn, incoming.with_delivery_id(), processed_at=self._clock()
                    )
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
        return None

    async def _spool_or_raise(self, incoming: IncomingCallback, exc: Exception) -> None:
        """Spool a body the database did not take (raising CallbackSpooled); no spool: return."""
        # Whatever stopped the raw body reaching the database (an outage, a full
        # pool, a bug), it must not be lost: Safaricom does not send it again.
        if self.spool is not None:
            self.unavailable_since = self.unavailable_since or self._clock()
            path = await asyncio.to_thread(self.spool.append, incoming)
            log.error(
                "callback could not be stored: spooled to disk for replay",
                extra={
                    "kind": incoming.kind.value,
                    "spool_file": path.name,
                    "error": type(exc).__name__,
                },
            )
            raise CallbackSpooled(
                "the database is unavailable; the callback was spooled for replay",
                spool_file=path.name,
            ) from exc

    async def _insert(self, incoming: IncomingCallback) -> int:
        async with self._engine.begin() as conn:
            return await self._insert_on(conn, incoming)

    async def _insert_on(
        self,
        conn: AsyncConnection,
        incoming: IncomingCallback,
        *,
        processed_at: datetime | None = None,
    ) -> int:
        result = await conn.execute(
            _INSERT,
            {
                "kind": incoming.kind,
                "outcome": CallbackOutcome.RECEIVED,
                "raw_body": incoming.body,
                "content_type": (incoming.content_type or "")[:255] or None,
                "source_address": (incoming.source_address or "")[:64] or None,
                "correlation_id": (incoming.correlation_id or "")[:64] or None,
                "delivery_id": incoming.delivery_id,
                "processed_at": processed_at,
                "attempts": 0,
                "received_at": incoming.received_at or self._clock(),
            },
        )
        log_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        assert log_id is not None
        self.unavailable_since = None
        return int(log_id)

    async def mark(
        self,
        log_id: int,
        outcome: CallbackOutcome,
        *,
        conn: AsyncConnection | None = None,
        reference: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Record a callback's outcome (in ``conn``'s transaction when given)."""
        params: dict[str, Any] = {
            "log_id": log_id,
            "new_outcome": outcome,
            "now": self._clock(),
            # What is recorded about a body is cleaned like the body's text was
            # (mpesa_daraja_kit.text); the raw body itself is stored as received.
            "new_error_code": storable_text(error_code) if error_code is not None else None,
            "new_error_message": storable_text(error_message or "")[:1000] or None,
        }
        stmt = _MARK
        if reference is not None:
            params["new_reference"] = storable_text(reference)[:100]
            stmt = _MARK_WITH_REFERENCE
        if conn is not None:
            await conn.execute(stmt, params)
            return
        async with self._engine.begin() as own:
            await own.execute(stmt, params)

    async def get(self, log_id: int) -> CallbackRecord | None:
        """Return one stored callback."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(_T).where(_T.c.id == log_id))).first()
        return _record(row) if row is not None else None

    async def list(
        self,
        *,
        outcomes: Sequence[CallbackOutcome] | None = None,
        kind: CallbackKind | None = None,
        reference: str | None = None,
        limit: int = 100,
    ) -> list[CallbackRecord]:
        """Return stored callbacks, newest first, filtered by outcome, kind or reference."""
        stmt = sa.select(_T).order_by(_T.c.id.desc()).limit(limit)
        if outcomes:
            stmt = stmt.where(_T.c.outcome.in_(list(outcomes)))
        if kind is not None:
            stmt = stmt.where(_T.c.kind == kind)
        if reference is not None:
            stmt = stmt.where(_T.c.reference == reference)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_record(row) for row in rows]


def _record(row: Any) -> CallbackRecord:
    return CallbackRecord(
        id=row.id,
        kind=row.kind,
        outcome=row.outcome,
        raw_body=row.raw_body,
        content_type=row.content_type,
        source_address=row.source_address,
        correlation_id=row.correlation_id,
        reference=row.reference,
        error_code=row.error_code,
        error_message=row.error_message,
        attempts=row.attempts,
        received_at=row.received_at,
        processed_at=row.processed_at,
    )
