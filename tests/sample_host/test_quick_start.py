"""The README's first command, on a fresh virtual environment: the host must answer.

Slow (it installs the project into a new venv, from the local pip cache when
warm), but it runs in CI: it is the promise the README makes.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.S)
    assert block, "README's quick start has no console block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readme_has_exactly_two_commands() -> None:
    assert _quick_start_commands() == ["./dev sample-host", "./dev test"]


def test_first_command_starts_the_host_on_a_fresh_venv(tmp_path: Path) -> None:
    command = _quick_start_commands()[0]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPESA_", "SAMPLE_HOST_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        VENV=str(tmp_path / "venv"),
        SAMPLE_HOST_PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/quick.db",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    log = (tmp_path / "host.log").open("wb")
    process = subprocess.Popen(
        command.split(),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/api/policies",
                    headers={"X-API-Key": "dev-key"},
                    timeout=5,
                )
                break
            except httpx.TransportError:
                time.sleep(0.5)
        output = (tmp_path / "host.log").read_text(errors="replace")
        assert answer is not None, f"the host never answered:\n{output[-3000:]}"
        assert answer.status_code == 200
        assert len(answer.json()["items"]) >= 4
        assert f"http://127.0.0.1:{port}/#key=dev-key" in output
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
