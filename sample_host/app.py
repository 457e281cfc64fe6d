"""The sample insurer's ASGI app: its own pages and API, with the kit mounted inside.

::

    host = SampleHost(HostConfig.from_env(), base_url="http://127.0.0.1:8000")
    uvicorn.run(host.app, host="127.0.0.1", port=8000)

Mounts (the original plan's paths, docs/architecture.md#sample-host-mounts):

==============================  ==============================================
``/api/public/mpesa/…``         the kit's public app (Safaricom's callbacks)
``/hooks/daraja/…``             the same app under a neutral prefix (production
                                C2B registration refuses URLs containing "mpesa")
``/api/internal/mpesa/…``       the kit's internal app (X-API-Key)
``/health/live``, ``/health/ready``  the kit's health app (no key: probes and alerting)
``/``, ``/static/…``            the operator page
``/api/policies`` …             the insurer's own API (X-API-Key)
``/docs``                       Swagger UI over the kit's OpenAPI document
``/daraja-simulator/…``         the in-process Daraja simulator (simulator environment)
==============================  ==============================================
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.simulator import Simulator, SimulatorConfig
from sample_host.auth import ApiKeyMiddleware
from sample_host.config import (
    HEALTH_MOUNT,
    INTERNAL_MOUNT,
    NEUTRAL_PUBLIC_MOUNT,
    PUBLIC_MOUNT,
    SIMULATOR_MOUNT,
    HostConfig,
    kit_settings,
)
from sample_host.docs import docs_routes
from sample_host.insurer import Insurer
from sample_host.operator import operator_routes
from sample_host.plugin import InsurerPlugin

__all__ = ["SampleHost", "make_engine"]

log = logging.getLogger("sample_host")


def make_engine(url: str) -> AsyncEngine:
    """Return the host's engine (SQLite: WAL and a busy timeout, so callbacks wait their turn)."""
    # hide_parameters: a database error must not carry names and phone numbers into logs.
    if make_url(url).get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


class SampleHost:
    """The insurer's back office, built once: tables, the kit, the simulator, the app.

    Args:
        config: the host's own settings.
        base_url: where this host answers (``http://127.0.0.1:8000``); callback and
            simulator URLs are built from it.
        environ: the environment to read ``MPESA_*`` from (default ``os.environ``).
        settings: the kit's settings, instead of reading them from ``environ``.
        on_ready: called with a start-up summary once everything is ready.
        clock: the one clock for the kit and the insurer's own records (aware UTC now).
    """

    def __init__(
        self,
        config: HostConfig,
        *,
        base_url: str,
        environ: dict[str, str] | None = None,
        settings: Settings | None = None,
        on_ready: Callable[[SampleHost], None] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        if settings is None:
            settings, in_process = kit_settings(self.base_url, environ)
        else:
            in_process = False
        self.settings = settings
        self.engine = make_engine(config.database_url)
        self.insurer = Insurer(self.engine, clock)
        self.plugin = InsurerPlugin(self.insurer, config.api_key)
        self.simulator: Simulator | None = (
            Simulator(settings, config=SimulatorConfig(callback_delay=config.simulator_delay))
            if in_process
            else None
        )
        self.kit = MpesaKit(settings, engine=self.engine, plugins=[self.plugin], clock=clock)
        self.on_ready = on_ready
        self.app = Starlette(
            routes=self._routes(),
            middleware=[Middleware(ApiKeyMiddleware, api_key=config.api_key)],
            lifespan=self._lifespan,
        )
        self.app.state.host = self

    def _routes(self) -> list[BaseRoute]:
        kit = self.kit
        routes: list[BaseRoute] = [
            Mount(PUBLIC_MOUNT, kit.public_app, name="mpesa_public"),
            Mount(NEUTRAL_PUBLIC_MOUNT, kit.public_app, name="daraja_hooks"),
            Mount(INTERNAL_MOUNT, kit.internal_app, name="mpesa_internal"),
            Mount(HEALTH_MOUNT, kit.health_app, name="mpesa_health"),
            *operator_routes(self),
            *docs_routes(),
        ]
        if self.simulator is not None:
            routes.append(Mount(SIMULATOR_MOUNT, self.simulator.app, name="simulator"))
        return routes

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.engine.dispose)
            await self.insurer.create_tables()
            await self.kit.migrate()
            if self.config.seed:
                await self.insurer.seed()
            if self.simulator is not None:
                # Starlette runs no mounted app's lifespan: enter the simulator's here.
                sim_app = self.simulator.app
                await stack.enter_async_context(sim_app.router.lifespan_context(sim_app))
                # The development paths contain "mpesa", which Daraja's register API
                # refuses; the simulator is told the URLs directly instead.
                self.simulator.register_urls(
                    self.settings.confirmation_url, self.settings.validation_url
                )
            await stack.enter_async_context(self.kit.lifespan())
            if self.on_ready is not None:
                self.on_ready(self)
            yield
