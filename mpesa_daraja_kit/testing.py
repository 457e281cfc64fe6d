"""Helpers for tests of the kit and of host applications.

:func:`serve_app` serves any ASGI app with a real uvicorn server on
127.0.0.1 in a background thread (an OS-chosen free port, ready before it
yields, stopped cleanly after); :func:`run_simulator` does the same for the
bundled Daraja simulator, so clients can talk to it over real HTTP.

::

    with run_simulator(config=SimulatorConfig(callback_delay=0)) as (url, sim):
        client = DarajaClient(Settings.for_simulator(base_url=url))
        ...
        sim.wait_for_deliveries(1, kind="stk_callback")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NamedTuple

import attrs

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.errors import require
from mpesa_daraja_kit.simulator import Simulator, SimulatorConfig

__all__ = ["RunningSimulator", "run_simulator", "serve_app", "serve_app_async"]


@functools.cache
def _ready_server_class() -> type[Any]:
    """Return the uvicorn server class used by :func:`serve_app` (uvicorn imported here).

    uvicorn comes with the ``cli`` extra; importing this module does not need it,
    only serving does.
    """
    require("uvicorn", "cli", feature="serving an app for tests")
    import uvicorn

    class _ReadyServer(uvicorn.Server):
        """A uvicorn server that signals once it accepts connections."""

        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.ready = threading.Event()

            self._wake = asyncio.Event()
            self._loop: asyncio.AbstractEventLoop | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().startup(sockets=sockets)
            if not self.should_exit:  # a failed lifespan startup sets should_exit
                self.ready.set()

        async def main_loop(self) -> None:
            # uvicorn polls should_exit every 0.1 s; wake at once when stop() is called
            # so that test teardown stays quick.
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 1) % 864000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.1)
                should_exit = await self.on_tick(counter)

        def stop(self) -> None:
            """Ask the server to shut down (from any thread)."""
            self.should_exit = True
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._wake.set)

    return _ReadyServer


@contextmanager
def serve_app(
    app: Any,
    *,
    host: str = "127.0.0.1",
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    log_level: str = "warning",
    **uvicorn_options: Any,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yield its base URL.

    uvicorn runs with its default settings (``proxy_headers`` on, for example)
    unless ``uvicorn_options`` says otherwise (any ``uvicorn.Config`` argument).

    The socket is bound before the server starts (port 0: the OS picks a free
    port), the context is entered only once the server accepts connections
    (its lifespan startup has run), and on exit the server shuts down (running
    the lifespan shutdown) and the thread is joined.

    Raises:
        MissingDependency: uvicorn is not installed (the ``cli`` extra).
        RuntimeError: when the server does not start within ``startup_timeout``
            (for example because the app's lifespan startup failed).
    """
    server_class = _ready_server_class()
    import uvicorn  # _ready_server_class checked that it is installed

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="auto",
        timeout_graceful_shutdown=max(1, round(shutdown_timeout)),
        **uvicorn_options,
    )
    server = server_class(config)
    failures: list[BaseException] = []

    def _run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # uvicorn exits with SystemExit(3) on a failed startup
            failures.append(exc)

    thread = threading.Thread(target=_run, name=f"serve_app:{port}", daemon=True)
    thread.start()
    try:
        # Wait on the readiness event, but notice a thread that died during startup.
        waited = 0.0
        while not server.ready.wait(timeout=0.05):
            waited += 0.05
            if not thread.is_alive() or waited >= startup_timeout:
                cause = f" ({failures[0]!r})" if failures else ""
                raise RuntimeError(f"the app did not start serving on {host}:{port}{cause}")
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(timeout=shutdown_timeout + 5)
        sock.close()


@asynccontextmanager
async def serve_app_async(app: Any, **options: Any) -> AsyncIterator[str]:
    """Serve ``app`` like :func:`serve_app` without blocking the caller's event loop."""
    manager = serve_app(app, **options)
    url = await asyncio.to_thread(manager.__enter__)
    try:
        yield url
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


class RunningSimulator(NamedTuple):
    """A served simulator: unpack as ``(base_url, simulator)``."""

    base_url: str
    simulator: Simulator

    @property
    def settings(self) -> Settings:
        """Return the simulator's settings pointed at its URL (what a client should use)."""
        return attrs.evolve(self.simulator.settings, base_url=self.base_url)


@contextmanager
def run_simulator(
    settings: Settings | None = None,
    config: SimulatorConfig | None = None,
    **options: Any,
) -> Iterator[RunningSimulator]:
    """Serve a fresh :class:`~mpesa_daraja_kit.simulator.Simulator`; yield ``(base_url, sim)``."""
    simulator = Simulator(settings, config=config)
    with serve_app(simulator.app, **options) as base_url:
        yield RunningSimulator(base_url, simulator)
