"""A fresh sample host per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sample_host.support import RunningHost, database, run_host


@pytest.fixture(params=["sqlite", "postgresql"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningHost]:
    """The sample host, served on 127.0.0.1 with its own empty database."""
    with database(request.param, tmp_path) as url, run_host(url) as host:
        yield host
