"""``mpesa-kit`` fails like a mature tool: one line on stderr, a stable exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import HOW_TO_ENABLE, configured_servers

FIXTURE = (
    Path(__file__).parents[1]
    / "fixtures"
    / "statements"
    / "ORG_600123_Utility Account_Completed_20251005080113.csv"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPESA_")}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "mpesa_daraja_kit.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def test_unmigrated_database_names_the_upgrade_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    line = one_line(run("statements", "import", "--url", url, str(FIXTURE)), 3)
    assert line == (
        f"error: schema_out_of_date: the database at {url} has no kit tables; "
        f"run: mpesa-kit db upgrade --url {url}"
    )
    one_line(run("callbacks", "list", "--url", url), 3, "mpesa-kit db upgrade --url")


def test_database_commands_need_no_daraja_credentials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kit.db"
    assert run("db", "upgrade", "--url", url).returncode == 0
    result = run("statements", "import", "--url", url, str(FIXTURE))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totalStatementItems"] == 5
    assert "importing" in result.stderr  # progress on stderr, never stdout
    listed = run("callbacks", "list", "--url", url)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_daraja_commands_name_the_missing_variables() -> None:
    one_line(run("daraja", "token"), 2, "MPESA_CONSUMER_KEY", "MPESA_PASSKEY")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("foo://x", ["unsupported database driver"]),
        ("not a url", ["is not a database URL"]),
    ],
)
def test_bad_urls(url: str, words: list[str]) -> None:
    one_line(run("db", "upgrade", "--url", url), 2, *words)


def test_no_url_says_how_to_give_one() -> None:
    one_line(run("db", "current"), 2, "--url", "DATABASE_URL")


def test_top_level_register_urls_is_gone() -> None:
    assert run("register-urls", "--help").returncode == 2


def _postgres() -> None:
    if "postgresql" not in configured_servers():
        pytest.skip(f"postgresql not configured: {HOW_TO_ENABLE}")


def test_unreachable_postgres() -> None:
    _postgres()
    one_line(
        run("db", "upgrade", "--url", "postgresql://postgres@127.0.0.1:1/test"),
        3,
        "cannot reach the database at postgresql://postgres@127.0.0.1:1/test",
    )


def test_missing_postgres_database() -> None:
    _postgres()
    one_line(
        run("db", "upgrade", "--url", "postgresql://postgres@127.0.0.1:5432/no_such_db_xyz"),
        3,
        'database "no_such_db_xyz" does not exist',
    )
