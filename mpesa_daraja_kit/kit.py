"""``MpesaKit``: the composition root a host builds once and mounts.

::

    kit = MpesaKit(Settings.from_env(), database_url="postgresql+asyncpg://…", plugins=[MyPlugin()])
    app = Starlette(routes=[Mount("/hooks/daraja", kit.public_app),
                            Mount("/api/internal/mpesa", kit.internal_app),
                            Mount("/health", kit.health_app)],
                    lifespan=lambda app: kit.lifespan())

Starlette does not run a mounted app's lifespan, so the host enters
:meth:`MpesaKit.lifespan` from its own: it checks the schema, starts the
event dispatcher (and the reconciler when enabled) and closes everything on
the way out. A host started (or a worker restarted) while the database is
unreachable starts all the same, degraded: callbacks go to the spool and the
schema is checked when the database returns (:meth:`MpesaKit.readiness`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

import attrs
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.client import AsyncDarajaClient, TokenCache
from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.db.engine import create_kit_engine
from mpesa_daraja_kit.db.migrate import check_schema, migrate
from mpesa_daraja_kit.enums import CallbackOutcome
from mpesa_daraja_kit.errors import ConfigError
from mpesa_daraja_kit.log import configure_logging, get_logger, register_secret
from mpesa_daraja_kit.plugins import make_plugin_manager
from mpesa_daraja_kit.services.background import BackgroundLoop
from mpesa_daraja_kit.services.c2b import C2BService
from mpesa_daraja_kit.services.callbacks import CallbackLogService, is_database_unavailable
from mpesa_daraja_kit.services.health import HealthReport, check_health
from mpesa_daraja_kit.services.ledger import Ledger
from mpesa_daraja_kit.services.linking import Linker
from mpesa_daraja_kit.services.outbox import EventOutbox
from mpesa_daraja_kit.services.payments import PaymentService
from mpesa_daraja_kit.services.reconcile import Reconciler
from mpesa_daraja_kit.services.refusals import RefusalLog
from mpesa_daraja_kit.services.replay import (
    CallbackReplayer,
    CallbackSweeper,
    ReplayResult,
    SweepResult,
)
from mpesa_daraja_kit.services.spool import (
    CallbackSpool,
    SpoolReplay,
    SpoolService,
    default_spool_dir,
)
from mpesa_daraja_kit.services.statements import StatementService
from mpesa_daraja_kit.services.stk import StkService
from mpesa_daraja_kit.services.token_cache import DatabaseTokenCache
from mpesa_daraja_kit.web.guards import callback_guards
from mpesa_daraja_kit.web.health import build_health_app
from mpesa_daraja_kit.web.internal import build_internal_app
from mpesa_daraja_kit.web.public import build_public_app
from mpesa_daraja_kit.wire import C2BRegisterResponse

__all__ = ["MpesaKit", "Readiness"]

log = get_logger("kit")


@attrs.frozen
class Readiness:
    """Whether the kit can do all its work now, and if not, why (no secrets, no PII)."""

    ready: bool
    reasons: tuple[str, ...] = ()
    """``"degraded: …"`` sentences, empty when ready."""


class MpesaKit:
    """Everything the kit offers a host, built once.

    Args:
        settings: the kit's settings (default: ``Settings.from_env()``).
        database_url: an async SQLAlchemy URL; the kit creates and disposes the engine.
        engine: or the host's own ``AsyncEngine`` (the kit never disposes it).
        plugins: objects or modules implementing the hooks in ``hookspecs``.
        daraja_transport: an httpx transport for the Daraja client (tests, proxies).
        token_cache: where the OAuth token is shared (default: the kit's database).
        clock: returns aware UTC now (injectable in tests).
        deliver_events: run the event dispatcher in :meth:`lifespan` (turn off when
            the host drains ``kit.events`` from its own worker).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        database_url: str | None = None,
        engine: AsyncEngine | None = None,
        plugins: Iterable[Any] = (),
        daraja_transport: httpx.AsyncBaseTransport | None = None,
        token_cache: TokenCache | None = None,
        clock: Clock = utc_now,
        deliver_events: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        configure_logging(log_pii=self.settings.log_pii)
        register_secret(self.settings.callback_path_secret)
        if (database_url is None) == (engine is None):
            raise ConfigError("MpesaKit needs exactly one of database_url= or engine=")
        if self.settings.stk_enabled and not self.settings.stk_callback_url:
            raise ConfigError(
                "stk_push_callback_url (MPESA_STK_PUSH_CALLBACK_URL, or MPESA_CALLBACK_BASE_URL) "
                "is required while STK Push is enabled"
            )
        self._owns_engine = engine is None
        self.engine: AsyncEngine = (
            engine if engine is not None else create_kit_engine(database_url or "")
        )
        self.clock = clock
        self.deliver_events = deliver_events
        self.pm = make_plugin_manager(plugins, validation_mode=self.settings.c2b_validation_mode)
        self.client = AsyncDarajaClient(
            self.settings,
            transport=daraja_transport,
            token_cache=token_cache if token_cache is not None else DatabaseTokenCache(self.engine),
            clock=clock,
        )
        self.events = EventOutbox(
            self.engine,
            self.pm,
            clock=clock,
            deliver_inline=deliver_events,
            hook_timeout=self.settings.event_hook_timeout,
            max_attempts=self.settings.event_max_attempts,
        )
        spool = (
            CallbackSpool(self.settings.spool_dir or default_spool_dir(), clock=clock)
            if self.settings.spool_enabled
            else None
        )
        self.callbacks = CallbackLogService(self.engine, clock=clock, spool=spool)
        self.linker = Linker(self.events, clock=clock)
        # The one writer of money received, shared by C2B, STK and statements.
        self.ledger = Ledger(
            settings=self.settings, outbox=self.events, linker=self.linker, clock=clock
        )
        self.stk = StkService(
            settings=self.settings,
            engine=self.engine,
            pm=self.pm,
            client=self.client,
            outbox=self.events,
            callbacks=self.callbacks,
            ledger=self.ledger,
            clock=clock,
        )
        self.c2b = C2BService(
            settings=self.settings,
            engine=self.engine,
            pm=self.pm,
            client=self.client,
            outbox=self.events,
            callbacks=self.callbacks,
            ledger=self.ledger,
            clock=clock,
        )
        self.replayer = CallbackReplayer(callbacks=self.callbacks, stk=self.stk, c2b=self.c2b)
        self.sweeper = CallbackSweeper(
            self.engine,
            self.replayer,
            self.callbacks,
            after=self.settings.callback_sweep_after,
            interval=self.settings.callback_sweep_interval,
            clock=clock,
        )
        self._unreachable_since: datetime | None = None
        self._schema_watch = BackgroundLoop("mpesa-kit-schema", self._watch_schema)
        self.spool = (
            SpoolService(
                spool,
                callbacks=self.callbacks,
                stk=self.stk,
                c2b=self.c2b,
                interval=self.settings.spool_replay_interval,
            )
            if spool is not None
            else None
        )
        self.statements = StatementService(
            settings=self.settings,
            engine=self.engine,
            pm=self.pm,
            outbox=self.events,
            ledger=self.ledger,
            clock=clock,
        )
        self.payments = PaymentService(self.engine)
        self.reconcile = Reconciler(
            settings=self.settings,
            engine=self.engine,
            client=self.client,
            stk=self.stk,
            callbacks=self.callbacks,
            outbox=self.events,
            clock=clock,
        )
        self.public_app = build_public_app(
            self, middleware=callback_guards(self.settings, RefusalLog(self.engine, clock=clock))
        )
        self.internal_app = build_internal_app(self)
        self.health_app = build_health_app(self)

    async def register_urls(
        self,
        confirmation_url: str | None = None,
        validation_url: str | None = None,
        *,
        response_type: str | None = None,
        version: str | None = None,
    ) -> C2BRegisterResponse:
        """Register the C2B URLs with Daraja (see :meth:`C2BService.register_urls`)."""
        return await self.c2b.register_urls(
            confirmation_url, validation_url, response_type=response_type, version=version
        )

    async def replay_callback(self, callback_id: int, *, force: bool = False) -> ReplayResult:
        """Apply a stored STK callback or C2B confirmation again (after a fix); idempotent."""
        return await self.replayer.replay(callback_id, force=force)

    async def replay_failed_callbacks(
        self,
        outcomes: tuple[CallbackOutcome, ...] = (CallbackOutcome.FAILED, CallbackOutcome.RECEIVED),
    ) -> list[ReplayResult]:
        """Replay every stored callback with one of ``outcomes``, oldest first.

        The default takes the FAILED ones and those whose processing was
        interrupted (``RECEIVED``; the background sweep takes those too).
        """
        return await self.replayer.replay_failed(outcomes=outcomes)

    async def sweep_callbacks(self) -> SweepResult:
        """Apply again the stored callbacks whose processing was interrupted (see the sweeper)."""
        return await self.sweeper.sweep()

    def readiness(self) -> Readiness:
        """Tell whether the kit is fully working; while degraded, say why.

        Degraded while the database was unreachable at start (until the schema
        check succeeds), or since a callback last had to be spooled (until one
        is stored again).
        """
        since = self._unreachable_since or self.callbacks.unavailable_since
        if since is None:
            return Readiness(True)
        reason = f"degraded: database unreachable since {since.isoformat(timespec='seconds')}"
        if self.spool is not None:
            reason += f"; {len(self.spool.spool)} callbacks spooled"
        return Readiness(False, (reason,))

    async def health(self) -> HealthReport:
        """Run the readiness checks (``GET /health/ready`` of :attr:`health_app`).

        The database (reachable within ``health_database_timeout``, at the kit's
        revision), :meth:`readiness`, the spool, callbacks not settled, the event
        backlog and dead letters, and the reconciler's last pass; each over its
        ``MPESA_HEALTH_*`` threshold adds a ``"degraded because …"`` reason.
        """
        return await check_health(
            engine=self.engine,
            settings=self.settings,
            clock=self.clock,
            spool=self.spool.spool if self.spool is not None else None,
            reconciler=self.reconcile,
            kit_reasons=self.readiness().reasons,
        )

    async def replay_spool(self) -> SpoolReplay:
        """Store and apply the callbacks spooled while the database was unavailable."""
        if self.spool is None:
            return SpoolReplay(stored=0, remaining=0)
        return await self.spool.replay()

    async def migrate(self) -> None:
        """Create or upgrade the kit's tables in this kit's database."""
        await migrate(self.engine)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Check the schema, start background work; on exit stop it and close connections.

        When the database cannot be reached the kit starts degraded rather than
        not at all (a worker restarted during an outage must keep answering
        callbacks — into the spool): the schema is checked again in the
        background until it can be, and :meth:`readiness` says so meanwhile.

        Raises:
            SchemaOutOfDate: the database is reachable and behind the kit (names the
                command to run).
        """
        try:
            await check_schema(self.engine)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            self._unreachable_since = self.clock()
            log.error(
                "database unreachable at start: serving degraded (callbacks are spooled) "
                "until it returns",
                extra={"error": type(exc).__name__},
            )
            self._schema_watch.start()
        loops: list[Any] = [self.sweeper]
        if self.deliver_events:
            self.events.start()
        if self.settings.reconcile_enabled:
            loops.append(self.reconcile)
        if self.spool is not None:
            loops.append(self.spool)
        for loop in loops:
            loop.start()
        try:
            yield
        finally:
            await self._schema_watch.stop()
            for loop in reversed(loops):
                await loop.stop()
            await self.events.stop()
            await self.aclose()

    async def _watch_schema(self) -> None:
        """Check the schema until the database answers (degraded start)."""
        interval = min(5.0, self.settings.spool_replay_interval)
        while self._unreachable_since is not None:
            await asyncio.sleep(interval)
            try:
                await check_schema(self.engine)
            except Exception as exc:
                if is_database_unavailable(exc):
                    continue
                log.critical(
                    "the database is back but its schema is not the kit's: %s",
                    type(exc).__name__,
                    exc_info=True,
                )
                continue
            log.warning(
                "database reachable again: no longer degraded",
                extra={"since": self._unreachable_since.isoformat()},
            )
            self._unreachable_since = None

    async def aclose(self) -> None:
        """Close the Daraja client and, when the kit created it, the engine."""
        await self.client.aclose()
        if self._owns_engine:
            await self.engine.dispose()
