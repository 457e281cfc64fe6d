"""Shared helpers for the benchmarks: databases, subprocess runs, tables, results."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from tests.databases import create_database, drop_database

RESULTS = Path(os.environ.get("MPESA_BENCH_RESULTS", "bench-results"))
POSTGRES = os.environ.get(
    "MPESA_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """Yield the URL of a fresh, migrated database on ``backend`` (dropped afterwards)."""
    from mpesa_daraja_kit.db.migrate import migrate

    if backend == "sqlite":
        path = tmp / f"bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(migrate(url))
        try:
            yield url
        finally:
            for leftover in tmp.glob(f"{path.name}*"):
                leftover.unlink()
        return
    server = make_url(POSTGRES)
    created = asyncio.run(create_database(server, "bench"))
    url = created.render_as_string(hide_password=False)
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(drop_database(server, created))


def run_child(module: str, args: Sequence[str], timeout: float = 1800) -> dict[str, Any]:
    """Run ``python -m module args`` (its own process: its own peak RSS); return its JSON."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return a plain-text table."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "-" * len(title)]
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(c.rjust(w) if index else c.ljust(w) for c, w in zip(row, widths, strict=True))
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def save(name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` (with the machine) to ``bench-results/NAME.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str))
    return path
