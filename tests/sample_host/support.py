"""Run the sample host for real: uvicorn on 127.0.0.1, its own database, the simulator inside."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest
import uvicorn

from sample_host import HostConfig, SampleHost
from tests.databases import HOW_TO_ENABLE, configured_servers, create_database, drop_database

API_KEY = "test-key"
AUTH = {"X-API-Key": API_KEY}
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "EXPIRED"}


@attrs.define
class RunningHost:
    """A served sample host and an HTTP client for it."""

    url: str
    host: SampleHost
    http: httpx.Client

    def policy(self, account: str) -> dict[str, Any]:
        """Return one policy as the host's API shows it."""
        response = self.http.get("/api/policies", headers=AUTH)
        assert response.status_code == 200, response.text
        (found,) = [p for p in response.json()["items"] if p["paymentAccountNumber"] == account]
        return dict(found)

    def premiums(self) -> list[dict[str, Any]]:
        """Return the premiums the insurer recorded."""
        response = self.http.get("/api/premiums", headers=AUTH)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def initiate(self, account: str, phone: str, amount: int) -> httpx.Response:
        """Ask the kit for an STK push, as the operator page does."""
        return self.http.post(
            "/api/internal/mpesa/stk-push/initiate",
            json={"phoneNumber": phone, "amount": amount, "accountReference": account},
            headers=AUTH,
        )

    def settled(self, request_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """Poll the prompt until it has a final status; return it."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.http.get(f"/api/internal/mpesa/stk-push/{request_id}", headers=AUTH)
            assert response.status_code == 200, response.text
            dto: dict[str, Any] = response.json()
            if dto["status"] in FINAL:
                return dto
            if time.monotonic() > deadline:
                raise AssertionError(f"prompt still {dto['status']} after {timeout} s")
            time.sleep(0.1)

    def has_route(self, app: str, path: str) -> bool:
        """Tell whether the kit's public or internal app serves ``path``."""
        kit_app = self.host.kit.public_app if app == "public" else self.host.kit.internal_app
        return any(getattr(route, "path", None) == path for route in kit_app.routes)


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def run_host(
    database_url: str, *, simulator_delay: float = 0.3, api_key: str = API_KEY
) -> Iterator[RunningHost]:
    """Serve a fresh sample host on a free port of 127.0.0.1 until the block ends."""
    sock = _bound_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    config = HostConfig(
        port=port, api_key=api_key, database_url=database_url, simulator_delay=simulator_delay
    )
    # Only the simulator environment: the developer's own MPESA_* must not leak in.
    host = SampleHost(config, base_url=url, environ={"MPESA_ENVIRONMENT": "simulator"})
    server = uvicorn.Server(uvicorn.Config(host.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sample_host:{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the sample host did not start on {url}")
            time.sleep(0.02)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield RunningHost(url, host, http)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _require_databases() -> bool:
    return os.environ.get("MPESA_TEST_REQUIRE_DATABASES", "") not in ("", "0")


@contextlib.contextmanager
def database(backend: str, tmp_path: Any) -> Iterator[str]:
    """Yield the URL of a new, empty database on ``backend`` (dropped afterwards)."""
    if backend != "sqlite" and backend not in configured_servers():
        if _require_databases():
            pytest.fail(f"{backend} is required (MPESA_TEST_REQUIRE_DATABASES) but not configured")
        pytest.skip(f"{backend} not configured: {HOW_TO_ENABLE}")
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/sample_host.db"
        return
    # Not tests.databases.fresh_database: its async generator would be finalised (and
    # the database dropped) when the first asyncio.run closes its loop.
    server = configured_servers()[backend]
    url = asyncio.run(create_database(server, "h"))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(drop_database(server, url))
