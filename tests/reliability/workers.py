"""Run the test host under ``uvicorn --workers N`` in a subprocess, and kill its workers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "reliability-agent-key"
"""The test host's agent key (``X-API-Key``)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Workers:
    """``uvicorn tests.reliability.host_app:app --workers N`` with uvicorn's default settings."""

    def __init__(self, database_url: str, spool_dir: Path, workers: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environ = {
            **os.environ,
            "HOST_DATABASE_URL": database_url,
            "MPESA_ENVIRONMENT": "simulator",
            "MPESA_CALLBACK_BASE_URL": "http://127.0.0.1:9/hooks/daraja",
            "MPESA_SPOOL_DIR": str(spool_dir),
            "MPESA_SPOOL_REPLAY_INTERVAL": "0.5",
            "MPESA_CALLBACK_SWEEP_AFTER": "2",
            "MPESA_CALLBACK_SWEEP_INTERVAL": "1",
            "MPESA_RECONCILE_ENABLED": "false",
            **env,
        }
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.log = spool_dir.parent / "uvicorn.log"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "tests.reliability.host_app:app",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(self.workers), "--log-level", "warning",
            ],
            cwd=ROOT,
            env=self.environ,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        if self.workers == 1:
            return [self.process.pid]  # uvicorn serves in its own process: no supervisor
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(p) for p in children.read_text().split()]
        # uvicorn's workers are spawned processes; skip multiprocessing's resource tracker.
        return [p for p in pids if b"resource_tracker" not in _cmdline(p)]

    async def wait_serving(self, timeout: float = 30.0) -> None:
        """Wait until every worker runs and the server answers."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while True:
                try:
                    await http.get("/ready")
                    if len(self.worker_pids()) >= self.workers:
                        return
                except (httpx.HTTPError, OSError):
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"uvicorn did not serve: {self.log.read_text()[-3000:]}")
                await asyncio.sleep(0.1)

    def kill_worker(self) -> int:
        """``kill -9`` one worker; return its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Workers:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
