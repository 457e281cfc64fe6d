"""Every shell recipe in README.md and docs/*.md that calls ``curl`` runs, as written.

The blocks of one ``<!-- snippet: session=NAME -->`` on a page run in order in one
bash process (so variables and functions carry over, as in a reader's terminal),
with only the ports changed: ``127.0.0.1:8000`` becomes the served host's port and
``8089`` a free port for the simulator the recipe starts. ``pip install`` lines
are no-ops (the kit is installed here); everything else runs. Between blocks
the test checks what the recipe promised: a prompt settles, a callback reaches
the host's public mount and is answered 200, an upload is counted.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docs.snippets import PAGES, ROOT, SHELL_LANGUAGES, Block, blocks, curl_blocks
from tests.sample_host.support import RunningHost, run_host

pytestmark = pytest.mark.slow  # uvicorn servers and a bash session with subprocesses

FIXTURES = Path(__file__).parents[1] / "fixtures"
STATEMENT_CSV = FIXTURES / "statements" / "ORG_600123_Utility Account_Completed_20251005080113.csv"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def commands(block: Block) -> str:
    """Return what a reader types: for a ``console`` block with ``$`` prompts, only those lines."""
    lines = block.code.splitlines()
    if block.language != "console" or not any(line.startswith("$ ") for line in lines):
        return block.code
    typed: list[str] = []
    continued = False
    for line in lines:
        if line.startswith("$ ") or continued:
            typed.append(line[2:] if line.startswith("$ ") else line)
            continued = line.rstrip().endswith("\\")
    return "\n".join(typed) + "\n"


def session(page: str, name: str) -> list[Block]:
    found = [
        b
        for b in blocks([ROOT / page])
        if b.language in SHELL_LANGUAGES and b.directives.get("session") == name
    ]
    assert found, f"{page} has no shell session {name!r}"
    return found


class Shell:
    """One bash process fed block by block, as a reader's terminal would be."""

    def __init__(self, cwd: Path, ports: dict[str, str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MPESA_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.ports = ports
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the recipe's background servers die with the session
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send("pip() { :; }  # the kit is already installed in the test environment\n")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, script: str, timeout: float = 90) -> tuple[int, str]:
        for placeholder, real in self.ports.items():
            script = script.replace(placeholder, real)
        marker = f"__done_{uuid.uuid4().hex}__"
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{script}\n__rc=$?; echo; echo {marker} $__rc\n")
        self.proc.stdin.flush()
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"the recipe did not finish in {timeout} s:\n{''.join(out)}"
                ) from None
            if line.startswith(marker):
                return int(line.split()[1]), "".join(out)
            out.append(line)

    def run(self, block: Block) -> str:
        rc, out = self.send(commands(block))
        assert rc == 0, f"{block.id} failed (exit {rc}):\n{out}"
        assert "Traceback" not in out, f"{block.id}:\n{out}"
        return out

    def close(self) -> None:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


def _json_lines(out: str) -> list[Any]:
    found = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('{"'):  # curl prints no newline: the next output may follow it
            found.append(json.JSONDecoder().raw_decode(line)[0])
    return found


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RunningHost]:
    with run_host(f"sqlite+aiosqlite:///{tmp_path}/host.db", api_key="dev-key") as running:
        yield running


def _shell(cwd: Path, host_url: str) -> Shell:
    port = host_url.rsplit(":", 1)[1]
    return Shell(cwd, {"127.0.0.1:8000": f"127.0.0.1:{port}", "8089": str(_free_port())})


def _wait_for(predicate: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.2)


def test_readme_embedding_runs_against_the_simulator(tmp_path: Path) -> None:
    """The README's embedding example, saved as embed.py, serves and settles a prompt."""
    (saved,) = [b for b in blocks([ROOT / "README.md"]) if "saved-as" in b.directives]
    (tmp_path / saved.directives["saved-as"]).write_text(saved.code)
    port = _free_port()
    shell = Shell(
        tmp_path,
        {"127.0.0.1:8000": f"127.0.0.1:{port}", "--port 8000": f"--port {port}", "8089": str(_free_port())},
    )
    try:
        (recipe,) = session("README.md", "embed")
        out = shell.run(recipe)
        (answer,) = _json_lines(out)
        assert answer["status"] == "PENDING", out
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            def settled() -> dict[str, Any] | None:
                dto = http.get(
                    f"/api/internal/mpesa/stk-push/{answer['id']}", headers={"X-API-Key": "dev-key"}
                ).json()
                return dto if dto["status"] != "PENDING" else None

            # The simulator's callback reached /hooks/daraja/stk-push/callback of embed.py.
            assert _wait_for(settled, "the prompt settled")["status"] == "COMPLETED"
    finally:
        shell.close()


def test_sample_host_recipes(host: RunningHost, tmp_path: Path) -> None:
    """getting-started.md's initiation and statements.md's upload and import."""
    shutil.copyfile(STATEMENT_CSV, tmp_path / STATEMENT_CSV.name)
    from tests.statements.generator import StatementSpec, write_family_a_xlsx

    write_family_a_xlsx(StatementSpec(rows=20), tmp_path / "statement.xlsx")
    shell = _shell(tmp_path, host.url)
    try:
        (initiate,) = session("docs/getting-started.md", "sample-host")
        (answer,) = _json_lines(shell.run(initiate))
        assert answer["status"] == "PENDING"
        assert answer["accountReference"] == "POL0012345"

        (upload,) = session("docs/statements.md", "sample-host")
        out = shell.run(upload)
        report = _json_lines(out)[0]
        assert report["status"] == "COMPLETED", out
        assert "imported" in out.lower() or "rows" in out.lower(), out
    finally:
        shell.close()


def test_simulator_curl_session(host: RunningHost, tmp_path: Path) -> None:
    """docs/simulator.md from start to end; callbacks land on the host's public mount."""
    shell = _shell(tmp_path, host.url)
    sim = f"http://127.0.0.1:{shell.ports['8089']}"
    try:
        *recipes, inspect = session("docs/simulator.md", "simulator")
        for block in recipes:
            out = shell.run(block)
            for answer in _json_lines(out):
                # Daraja's only expected error here: a query while the customer decides.
                assert "being processed" in answer.get("errorMessage", "being processed"), (
                    block.id,
                    answer,
                )

        def delivered() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = httpx.get(f"{sim}/simulator/callbacks").json()["callbacks"]
            kinds = {d["kind"] for d in found if d["ok"]}
            return found if {"stk_callback", "c2b_confirmation"} <= kinds else None

        deliveries = _wait_for(delivered, "an STK callback and a C2B confirmation delivered")
        for delivery in deliveries:
            assert delivery["url"].startswith(f"{host.url}/hooks/daraja/"), delivery
            assert delivery["status_code"] == 200, delivery
        shell.run(inspect)
    finally:
        shell.close()


def test_every_curl_recipe_is_run_by_a_test() -> None:
    run_here = {
        ("README.md", "embed"),
        ("docs/getting-started.md", "sample-host"),
        ("docs/statements.md", "sample-host"),
        ("docs/simulator.md", "simulator"),
    }
    assert {p.name for p in PAGES} >= {"README.md", "simulator.md"}
    for block in curl_blocks():
        key = (str(block.page.relative_to(ROOT)), block.directives.get("session", ""))
        assert key in run_here, f"{block.id} calls curl but no test runs it (give it a session)"
