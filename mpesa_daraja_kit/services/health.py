"""Health: the figures behind the readiness probe, and what makes the kit degraded.

Each check gives its figures (counts, ages, revisions — no secrets, no PII)
and, when over its ``MPESA_HEALTH_*`` threshold, a reason that starts with
``"degraded because"``. The database is asked with a time-out, so a probe never
hangs on it: a database that does not answer in time is one more reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.clock import Clock
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.migrate import current_revision, head_revision
from mpesa_daraja_kit.db.models import OutboxStatus, callback_log, event_outbox
from mpesa_daraja_kit.enums import CallbackOutcome
from mpesa_daraja_kit.log import get_logger
from mpesa_daraja_kit.services.callbacks import is_database_unavailable
from mpesa_daraja_kit.services.reconcile import Reconciler
from mpesa_daraja_kit.services.spool import CallbackSpool

__all__ = ["NOT_SETTLED", "HealthReport", "check_health"]

log = get_logger("health")

NOT_SETTLED = (CallbackOutcome.RECEIVED, CallbackOutcome.FAILED, CallbackOutcome.WAITING)
"""Callback outcomes that still wait for something (a sweep, a fix, their STK request)."""


@attrs.frozen
class HealthReport:
    """The readiness answer: ok or degraded, why, and each check's figures."""

    reasons: tuple[str, ...]
    checks: dict[str, dict[str, Any]]

    @property
    def ok(self) -> bool:
        """Tell whether no check is degraded."""
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON body of ``GET /health/ready``."""
        return {
            "status": "ok" if self.ok else "degraded",
            "reasons": list(self.reasons),
            "checks": self.checks,
        }


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 3)


def _oldest_spooled(path: Path) -> datetime | None:
    try:
        return CallbackSpool.load(path).received_at
    except (OSError, ValueError, KeyError):
        # Being replayed right now, or unreadable: the name starts with its time_ns.
        try:
            return datetime.fromtimestamp(int(path.name.split("-", 1)[0]) / 1e9, UTC)
        except ValueError:
            return None


def _spool_figures(spool: CallbackSpool | None) -> tuple[int, datetime | None]:
    if spool is None:
        return 0, None
    entries = spool.entries()
    return len(entries), (_oldest_spooled(entries[0]) if entries else None)


async def _database_figures(
    engine: AsyncEngine, settings: Settings, now: datetime
) -> dict[str, Any]:
    revision = await current_revision(engine)
    if revision != head_revision():  # the tables may not be there: count nothing
        return {"revision": revision, "stale_callbacks": None}
    callbacks_before = now - timedelta(seconds=settings.health_callback_max_age)
    events_before = now - timedelta(seconds=settings.health_outbox_max_age)
    count = sa.select(sa.func.count())
    async with engine.connect() as conn:
        stale_callbacks = await conn.scalar(
            count.select_from(callback_log).where(
                callback_log.c.outcome.in_(NOT_SETTLED),
                callback_log.c.received_at < callbacks_before,
            )
        )
        stale_events = await conn.scalar(
            count.select_from(event_outbox).where(
                event_outbox.c.status == OutboxStatus.PENDING,
                event_outbox.c.created_at < events_before,
            )
        )
        dead = await conn.scalar(
            count.select_from(event_outbox).where(event_outbox.c.status == OutboxStatus.DEAD)
        )
    return {
        "revision": revision,
        "stale_callbacks": int(stale_callbacks or 0),
        "stale_events": int(stale_events or 0),
        "dead_events": int(dead or 0),
    }


def _degraded_prefix(reason: str) -> str:
    for prefix in ("degraded: ", "degraded because "):
        if reason.startswith(prefix):
            return "degraded because " + reason[len(prefix) :]
    return "degraded because " + reason


async def check_health(
    *,
    engine: AsyncEngine,
    settings: Settings,
    clock: Clock,
    spool: CallbackSpool | None,
    reconciler: Reconciler,
    kit_reasons: Sequence[str] = (),
) -> HealthReport:
    """Run every check and return the report (never raises for a database fault)."""
    now = clock()
    reasons: list[str] = []
    checks: dict[str, dict[str, Any]] = {}

    # The database: reachable, at the kit's head revision, and the backlogs it holds.
    head = head_revision()
    timeout = settings.health_database_timeout
    loop = asyncio.get_running_loop()
    started = loop.time()
    figures: dict[str, Any] | None = None
    try:
        figures = await asyncio.wait_for(_database_figures(engine, settings, now), timeout)
    except TimeoutError:
        reasons.append(f"degraded because the database did not answer within {timeout:g} s")
        error: str | None = "timeout"
    except Exception as exc:
        log.warning("health: database check failed", extra={"error": type(exc).__name__})
        what = "is unreachable" if is_database_unavailable(exc) else "check failed"
        reasons.append(f"degraded because the database {what} ({type(exc).__name__})")
        error = type(exc).__name__
    else:
        error = None
    database: dict[str, Any] = {
        "ok": figures is not None,
        "seconds": round(loop.time() - started, 3),
        "timeout_seconds": timeout,
        "head_revision": head,
        "revision": None if figures is None else figures["revision"],
        "error": error,
    }
    if figures is not None and figures["revision"] != head:
        database["ok"] = False
        state = (
            "has none of the kit's tables"
            if figures["revision"] is None
            else f"is at revision {figures['revision']}"
        )
        reasons.append(
            f"degraded because the database {state}; the kit needs {head} "
            "(run `mpesa-kit db upgrade`)"
        )
    checks["database"] = database

    # The kit's own state: a degraded start, callbacks being spooled.
    own = [_degraded_prefix(reason) for reason in kit_reasons]
    reasons.extend(own)
    checks["kit"] = {"ok": not own}

    # The spool: how many callbacks wait on disk, and for how long.
    files, oldest = await asyncio.to_thread(_spool_figures, spool)
    oldest_age = _age(now, oldest)
    spool_check: dict[str, Any] = {
        "ok": True,
        "enabled": spool is not None,
        "files": files,
        "oldest_age_seconds": oldest_age,
        "max_files": settings.health_spool_max_files,
        "max_age_seconds": settings.health_spool_max_age,
    }
    if files > settings.health_spool_max_files:
        spool_check["ok"] = False
        reasons.append(
            f"degraded because {files} callbacks are spooled "
            f"(more than {settings.health_spool_max_files})"
        )
    if oldest_age is not None and oldest_age > settings.health_spool_max_age:
        spool_check["ok"] = False
        reasons.append(
            f"degraded because the oldest spooled callback has waited {oldest_age:.0f} s "
            f"(more than {settings.health_spool_max_age:g} s)"
        )
    checks["spool"] = spool_check

    # Backlogs in the database (None: unknown while it does not answer, or lacks the tables).
    counts = figures if figures is not None and figures["stale_callbacks"] is not None else None
    callbacks: dict[str, Any] = {
        "ok": None if counts is None else counts["stale_callbacks"] == 0,
        "not_settled_older": None if counts is None else counts["stale_callbacks"],
        "older_than_seconds": settings.health_callback_max_age,
    }
    if counts is not None and counts["stale_callbacks"]:
        reasons.append(
            f"degraded because {counts['stale_callbacks']} stored callbacks are still "
            f"RECEIVED, FAILED or WAITING after {settings.health_callback_max_age:g} s "
            "(`mpesa-kit callbacks list --unsettled`)"
        )
    checks["callbacks"] = callbacks

    outbox: dict[str, Any] = {
        "ok": None,
        "pending_older": None if counts is None else counts["stale_events"],
        "older_than_seconds": settings.health_outbox_max_age,
        "dead": None if counts is None else counts["dead_events"],
        "max_dead": settings.health_outbox_max_dead,
    }
    if counts is not None:
        outbox["ok"] = True
        if counts["stale_events"]:
            outbox["ok"] = False
            reasons.append(
                f"degraded because {counts['stale_events']} events are still PENDING after "
                f"{settings.health_outbox_max_age:g} s"
            )
        if counts["dead_events"] > settings.health_outbox_max_dead:
            outbox["ok"] = False
            reasons.append(
                f"degraded because {counts['dead_events']} events are dead letters (DEAD; "
                "`mpesa-kit events list --dead`)"
            )
    checks["outbox"] = outbox

    # The reconciler: when it runs here, its last pass must be recent.
    running = reconciler.running
    last = reconciler.last_run_at
    since = _age(now, last if last is not None else reconciler.started_at)
    reconcile: dict[str, Any] = {
        "ok": True,
        "enabled": settings.reconcile_enabled,
        "running": running,
        "last_run_at": None if last is None else last.isoformat(timespec="seconds"),
        "last_run_age_seconds": _age(now, last),
        "max_age_seconds": settings.health_reconcile_max_age,
    }
    if (
        settings.reconcile_enabled
        and running
        and since is not None
        and since > settings.health_reconcile_max_age
    ):
        reconcile["ok"] = False
        what = "has not finished a pass" if last is None else "last finished a pass"
        reasons.append(
            f"degraded because the reconciler {what} {since:.0f} s ago "
            f"(more than {settings.health_reconcile_max_age:g} s)"
        )
    checks["reconciler"] = reconcile
    return HealthReport(tuple(reasons), checks)
