"""Replaying stored callbacks: apply a kept body again after the cause of its failure is fixed.

A body that could not be read or recorded stays in the callback log as
``FAILED`` (an STK callback whose request is not stored yet stays
``WAITING``). Replaying runs the same code as the live callback, so it is
idempotent: a receipt already recorded is not recorded twice and fires no
second event. Validation bodies are not replayed — their answer was due
within seconds and the money has moved (or not) since.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.db.models import callback_log
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.errors import ErrorCode, NotFound, ValidationError
from mpesa_daraja_kit.log import bind_correlation_id, get_logger
from mpesa_daraja_kit.services.background import BackgroundLoop, BackgroundService, every
from mpesa_daraja_kit.services.c2b import C2BService
from mpesa_daraja_kit.services.callbacks import CallbackLogService, CallbackRecord
from mpesa_daraja_kit.services.stk import StkService

__all__ = ["REPLAYABLE", "CallbackReplayer", "CallbackSweeper", "ReplayResult", "SweepResult"]

log = get_logger("replay")

REPLAYABLE = frozenset({CallbackOutcome.FAILED, CallbackOutcome.WAITING, CallbackOutcome.RECEIVED})
"""Outcomes replayed without ``force``: failed, waiting, or never finished (a crash)."""


@attrs.frozen(kw_only=True)
class ReplayResult:
    """What replaying one stored callback did."""

    callback_id: int
    kind: CallbackKind
    previous: CallbackOutcome
    outcome: CallbackOutcome
    replayed: bool
    """False when the callback was already settled (APPLIED/DUPLICATE) and not forced."""
    error_code: str | None = None
    error_message: str | None = None


class CallbackReplayer:
    """Apply stored STK callbacks and C2B confirmations again."""

    def __init__(self, *, callbacks: CallbackLogService, stk: StkService, c2b: C2BService) -> None:
        self._callbacks = callbacks
        self._stk = stk
        self._c2b = c2b

    async def replay(self, callback_id: int, *, force: bool = False) -> ReplayResult:
        """Apply one stored callback again.

        Args:
            callback_id: the callback log id (``mpesa-kit callbacks list``).
            force: also re-apply a callback that was already applied (still
                idempotent; its outcome becomes DUPLICATE).

        Raises:
            NotFound: no stored callback has this id.
            ValidationError: it is a validation body, or a body a guard refused (never
                replayed).
        """
        record = await self._callbacks.get(callback_id)
        if record is None:
            raise NotFound(f"no stored callback {callback_id}")
        if record.kind is CallbackKind.C2B_VALIDATION:
            raise ValidationError(
                f"callback {callback_id} is a C2B validation: its answer was due within "
                "seconds and it never creates a payment, so it is not replayed"
            )
        if record.outcome is CallbackOutcome.REFUSED:
            # Refused by a guard: not from Safaricom (a wrong address, a wrong path
            # secret, an oversized body). Replaying it would let a forged body in.
            raise ValidationError(
                f"callback {callback_id} was refused by a callback guard "
                f"({record.error_code}) and is never replayed"
            )
        if record.outcome not in REPLAYABLE and not force:
            return _result(record, record, replayed=False)
        with bind_correlation_id(record.correlation_id):
            log.info(
                "replaying a stored callback",
                extra={"callback_log_id": callback_id, "kind": record.kind.value},
            )
            if record.kind is CallbackKind.STK_CALLBACK:
                await self._stk.apply_callback(record.id, record.raw_body)
            else:
                await self._c2b.apply_confirmation(record.id, record.raw_body, record.content_type)
        after = await self._callbacks.get(callback_id)
        assert after is not None
        return _result(record, after, replayed=True)

    async def replay_failed(
        self,
        *,
        outcomes: Sequence[CallbackOutcome] = (CallbackOutcome.FAILED, CallbackOutcome.RECEIVED),
        limit: int = 1000,
    ) -> list[ReplayResult]:
        """Replay stored STK callbacks and confirmations in ``outcomes``, oldest first.

        The default takes the failed ones and those whose processing was
        interrupted (still ``RECEIVED``); replaying one being applied right now
        is harmless (it ends DUPLICATE).
        """
        records = await self._callbacks.list(outcomes=list(outcomes), limit=limit)
        return [
            await self.replay(record.id, force=True)
            for record in reversed(records)
            if record.kind is not CallbackKind.C2B_VALIDATION
            and record.outcome is not CallbackOutcome.REFUSED
        ]


def _result(before: CallbackRecord, after: CallbackRecord, *, replayed: bool) -> ReplayResult:
    return ReplayResult(
        callback_id=before.id,
        kind=before.kind,
        previous=before.outcome,
        outcome=after.outcome,
        replayed=replayed,
        error_code=after.error_code,
        error_message=after.error_message,
    )


_T = callback_log
_SWEPT_KINDS = (
    CallbackKind.STK_CALLBACK,
    CallbackKind.C2B_CONFIRMATION,
    CallbackKind.C2B_VALIDATION,
)


@attrs.frozen
class SweepResult:
    """What one sweep did."""

    applied: int = 0
    """Interrupted STK callbacks and confirmations applied again (whatever their outcome)."""
    closed: int = 0
    """Interrupted validations closed as FAILED ``callback_interrupted`` (answered already)."""


class CallbackSweeper(BackgroundService):
    """Bring every stored body left ``RECEIVED`` (an interrupted apply) to a terminal outcome.

    A body is committed before it is applied; a crash, a dropped connection or
    a full pool between the two leaves it ``RECEIVED``. Rows older than
    ``after`` are claimed one at a time by a conditional update (several
    workers sweep one database without doing the same row twice at once) and
    applied again through the replayer — idempotent, so one that was in fact
    applied ends DUPLICATE. A validation has been answered and never creates a
    payment: it is closed as FAILED ``callback_interrupted``.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        replayer: CallbackReplayer,
        callbacks: CallbackLogService,
        *,
        after: float,
        interval: float,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._replayer = replayer
        self._callbacks = callbacks
        self._after = timedelta(seconds=after)
        self._clock = clock
        self._loop = BackgroundLoop(
            "mpesa-kit-sweep", lambda: every(interval, self.sweep, "callback sweep")
        )

    async def sweep(self, *, limit: int = 200) -> SweepResult:
        """Apply (or close) the interrupted bodies older than ``after``, oldest first."""
        cutoff = self._clock() - self._after
        started = sa.func.coalesce(_T.c.processed_at, _T.c.received_at)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(_T.c.id, _T.c.kind)
                    .where(
                        _T.c.outcome == CallbackOutcome.RECEIVED,
                        _T.c.kind.in_(_SWEPT_KINDS),
                        started < cutoff,
                    )
                    .order_by(_T.c.id)
                    .limit(limit)
                )
            ).all()
        applied = closed = 0
        for row in rows:
            if not await self._claim(row.id, cutoff):
                continue  # another worker took it
            if row.kind is CallbackKind.C2B_VALIDATION:
                await self._callbacks.mark(
                    row.id,
                    CallbackOutcome.FAILED,
                    error_code=str(ErrorCode.CALLBACK_INTERRUPTED),
                    error_message="answered, but its outcome was not recorded (interrupted)",
                )
                closed += 1
                continue
            await self._replayer.replay(row.id)
            applied += 1
        if applied or closed:
            log.info("interrupted callbacks swept", extra={"applied": applied, "closed": closed})
        return SweepResult(applied, closed)

    async def _claim(self, log_id: int, cutoff: object) -> bool:
        """Take one row for this sweep: its start time moves to now (a lease of ``after``)."""
        started = sa.func.coalesce(_T.c.processed_at, _T.c.received_at)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(_T)
                .where(
                    _T.c.id == log_id,
                    _T.c.outcome == CallbackOutcome.RECEIVED,
                    started < cutoff,
                )
                .values(processed_at=self._clock())
            )
        return bool(result.rowcount == 1)
