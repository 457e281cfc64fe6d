"""``mpesa-kit simulator`` starts a simulator configured from the MPESA_* environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from mpesa_daraja_kit.cli.simulator import simulator

pytestmark = pytest.mark.slow  # a simulator subprocess


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served_cli() -> Iterator[str]:
    """Run the real command in a child process; yield its base URL once it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "MPESA_CONSUMER_KEY": "key-from-env",
        "MPESA_CONSUMER_SECRET": "secret-from-env",
        "MPESA_BUSINESS_SHORT_CODE": "600984",
    }
    env.pop("MPESA_ENVIRONMENT", None)
    code = "from mpesa_daraja_kit.cli import main; main()"
    child = subprocess.Popen(
        [sys.executable, "-c", code, "simulator", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/simulator/next-outcome")
                break
            except httpx.TransportError:
                assert child.poll() is None, child.stdout.read() if child.stdout else b""
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.05)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)
        if child.stdout:
            child.stdout.close()


def test_command_serves_a_simulator_with_the_environment_credentials(served_cli: str) -> None:
    refused = httpx.get(
        f"{served_cli}/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=("simulator-key", "simulator-secret"),
    )
    accepted = httpx.get(
        f"{served_cli}/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=("key-from-env", "secret-from-env"),
    )

    assert refused.json()["errorCode"] == "400.008.01"
    assert accepted.status_code == 200


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(simulator, ["--help"])

    assert result.exit_code == 0
    for option in ("--port", "--callback-delay", "--msisdn-mode", "--c2b-validation"):
        assert option in result.output


def test_bad_environment_is_a_usage_error() -> None:
    result = CliRunner().invoke(simulator, ["--port", "1"], env={"MPESA_BUSINESS_SHORT_CODE": "12"})

    assert result.exit_code == 2
    assert "MPESA_BUSINESS_SHORT_CODE" in result.output
