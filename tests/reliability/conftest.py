"""What the reliability tests share: a database they can cut away, and numbered confirmations."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url

from tests.conftest import load_fixture
from tests.reliability.proxy import TcpProxy


def confirmation_bytes(receipt: str) -> bytes:
    """A C2B confirmation (hashed MSISDN, as Safaricom sends them now) for ``receipt``."""
    body = load_fixture("c2b_confirmation_hashed_msisdn")
    body["TransID"] = receipt
    return json.dumps(body).encode()


def via_proxy(db_url: str, proxy: TcpProxy) -> str:
    """``db_url`` pointed at the proxy instead of the server."""
    through = make_url(db_url).set(host="127.0.0.1", port=proxy.port)
    return through.render_as_string(hide_password=False)


@pytest.fixture
def server_backend(backend: str) -> str:
    """The backend, for faults only a database server has (SQLite is skipped, saying why)."""
    if backend == "sqlite":
        pytest.skip(
            "an embedded SQLite file cannot be cut away or run out of connections; "
            "see the server backends"
        )
    return backend


@pytest.fixture
async def proxy(db_url: str, server_backend: str) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the test database, which the test can cut and restore."""
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.aclose()
