"""``mpesa-kit callbacks`` and ``mpesa-kit daraja register-urls`` as an operator runs them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.cli import get_command
from mpesa_daraja_kit.db.engine import create_kit_engine
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.services.callbacks import CallbackLogService
from mpesa_daraja_kit.testing import RunningSimulator
from tests.c2b.conftest import confirmation, confirmation_body
from tests.conftest import fixture_bytes
from tests.support import HostPlugin

PLUGIN = HostPlugin()
"""The host plugin the replay command loads (``--plugin tests.c2b.test_cli:PLUGIN``)."""

ENV = {"MPESA_ENVIRONMENT": "simulator", "MPESA_CALLBACK_BASE_URL": "http://127.0.0.1:9/cb"}


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(get_command(), list(args), env={**ENV, **(env or {})})


def stored(url: str, body: bytes, outcome: CallbackOutcome, kind: CallbackKind) -> int:
    """Store a callback body with an outcome (as a bug or a live callback left it)."""

    async def run() -> int:
        engine = create_kit_engine(url)
        try:
            service = CallbackLogService(engine)
            log_id = await service.store(confirmation(body, kind=kind, correlation_id="c-9"))
            await service.mark(log_id, outcome, error_code="callback_failed", error_message="bug")
            return log_id
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def url(sqlite_engine: AsyncEngine, database_urls: dict[str, str]) -> str:
    """The (emptied) SQLite database the commands run against."""
    PLUGIN.events.clear()
    return database_urls["sqlite"]


def test_list_failed_masks_phone_numbers_and_names(url: str) -> None:
    plain = fixture_bytes("c2b_confirmation_plain_msisdn")
    failed = stored(url, plain, CallbackOutcome.FAILED, CallbackKind.C2B_CONFIRMATION)
    stored(url, b"{}", CallbackOutcome.APPLIED, CallbackKind.C2B_VALIDATION)
    result = invoke("callbacks", "list", "--failed", "--url", url)
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.output)
    assert item["id"] == failed
    assert (item["kind"], item["outcome"]) == ("C2B_CONFIRMATION", "FAILED")
    assert (item["error_code"], item["correlation_id"]) == ("callback_failed", "c-9")
    assert item["body"]["MSISDN"] == "2547******11"
    assert item["body"]["FirstName"] == item["body"]["LastName"] == "***"
    assert item["body"]["TransID"] == "PKL3B9X2QA"
    assert "254722000111" not in result.output and "KAMAU" not in result.output

    shown = invoke("callbacks", "list", "--failed", "--show-pii", "--url", url)
    assert json.loads(shown.output)[0]["body"]["MSISDN"] == "254722000111"
    everything = invoke("callbacks", "list", "--url", url)
    assert len(json.loads(everything.output)) == 2


def test_list_reads_database_url_from_the_environment(url: str) -> None:
    stored(url, b"junk", CallbackOutcome.FAILED, CallbackKind.STK_CALLBACK)
    result = invoke("callbacks", "list", "--kind", "STK_CALLBACK", env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["body"] == "junk"


def test_replay_one_then_again_is_idempotent(url: str) -> None:
    body = json.dumps(confirmation_body()).encode()
    log_id = stored(url, body, CallbackOutcome.FAILED, CallbackKind.C2B_CONFIRMATION)
    args = ("callbacks", "replay", str(log_id), "--url", url, "--plugin", f"{__name__}:PLUGIN")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)[0]["outcome"] == "APPLIED"
    again = invoke(*args)
    assert json.loads(again.output)[0] == {
        "id": log_id,
        "kind": "C2B_CONFIRMATION",
        "previous": "APPLIED",
        "outcome": "APPLIED",
        "replayed": False,
        "error_code": None,
        "error_message": None,
    }
    assert len(PLUGIN.of("mpesa_payment_recorded")) == 1


def test_replay_all_failed_reports_what_still_fails(url: str) -> None:
    good = json.dumps(confirmation_body()).encode()
    stored(url, good, CallbackOutcome.FAILED, CallbackKind.C2B_CONFIRMATION)
    stored(url, b"not json", CallbackOutcome.FAILED, CallbackKind.C2B_CONFIRMATION)
    result = invoke(
        "callbacks",
        "replay",
        "--all-failed",
        "--url",
        url,
        env={"MPESA_KIT_PLUGINS": __name__ + ":PLUGIN"},
    )
    assert result.exit_code == 1  # one is still broken
    outcomes = [item["outcome"] for item in json.loads(result.output)]
    assert outcomes == ["APPLIED", "FAILED"]


@pytest.mark.parametrize(
    "args",
    [
        ("callbacks", "replay", "1"),  # no plugins
        ("callbacks", "replay", "--no-plugins"),  # neither an id nor --all-failed
        ("callbacks", "replay", "1", "--all-failed", "--no-plugins"),
    ],
)
def test_replay_usage_errors(url: str, args: tuple[str, ...]) -> None:
    result = invoke(*args, "--url", url)
    assert result.exit_code == 2
    assert "Usage" in result.output


def test_replay_without_plugins_when_asked(url: str) -> None:
    body = json.dumps(confirmation_body()).encode()
    log_id = stored(url, body, CallbackOutcome.FAILED, CallbackKind.C2B_CONFIRMATION)
    result = invoke("callbacks", "replay", str(log_id), "--no-plugins", "--url", url)
    assert json.loads(result.output)[0]["outcome"] == "APPLIED"


def _sim_env(sim: RunningSimulator, base: str) -> dict[str, Any]:
    return {"MPESA_BASE_URL": sim.base_url, "MPESA_CALLBACK_BASE_URL": base}


def test_register_urls_command(c2b_simulator: RunningSimulator) -> None:
    env = _sim_env(c2b_simulator, "http://127.0.0.1:9/hooks/pay")
    dry = invoke("daraja", "register-urls", "--dry-run", env=env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["request"]["ConfirmationURL"].endswith("/hooks/pay/confirmation")
    assert c2b_simulator.simulator.registrations() == {}
    done = invoke("daraja", "register-urls", "--api-version", "v1", env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["ResponseCode"] == "0"
    assert "174379" in c2b_simulator.simulator.registrations()


def test_register_urls_names_the_banned_word(c2b_simulator: RunningSimulator) -> None:
    result = invoke("daraja", "register-urls", env=_sim_env(c2b_simulator, "http://127.0.0.1:9/api/mpesa"))
    assert result.exit_code == 1
    assert "'mpesa'" in result.output
    assert c2b_simulator.simulator.registrations() == {}
