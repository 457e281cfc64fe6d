"""``mpesa-kit db`` end to end on a file database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mpesa_daraja_kit.cli import get_command
from mpesa_daraja_kit.db.migrate import VERSION_TABLE, head_revision


def test_upgrade_check_current_downgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    runner = CliRunner()
    cli = get_command()

    result = runner.invoke(cli, ["db", "check", "--url", url])
    assert result.exit_code == 3  # the database is behind
    assert "mpesa-kit db upgrade" in result.output

    result = runner.invoke(cli, ["db", "upgrade", "--url", url])
    assert result.exit_code == 0, result.output
    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "x.db").execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert VERSION_TABLE in tables
    assert "mpesa_payment_report_items" in tables

    result = runner.invoke(cli, ["db", "check", "--url", url])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output

    result = runner.invoke(cli, ["db", "current", "--url", url])
    assert head_revision() in result.output

    result = runner.invoke(cli, ["db", "downgrade", "--url", url, "base"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["db", "current", "--url", url])
    assert "none" in result.output


def test_console_script_runs(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/y.db"
    exe = Path(sys.executable).with_name("mpesa-kit")
    out = subprocess.run([str(exe), "db", "upgrade", "--url", url], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([str(exe), "db", "check", "--url", url], capture_output=True, text=True)
    assert out.returncode == 0 and "up to date" in out.stdout
