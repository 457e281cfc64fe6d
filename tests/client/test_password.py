"""The STK password and timestamp: Kenyan time whatever the process's TZ says."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mpesa_daraja_kit.client import DarajaCore
from mpesa_daraja_kit.config import SANDBOX_PASSKEY, SANDBOX_SHORT_CODE
from tests.client.conftest import FakeClock, fixture, make_settings

ROOT = Path(__file__).parents[2]

# Builds a real STK push body with the real clock and reports it with the
# process's own idea of local time, so the parent can tell the two apart.
CHILD = """
import json, time
from datetime import datetime, UTC
from mpesa_daraja_kit.client import DarajaCore
from mpesa_daraja_kit.config import Settings, SANDBOX_PASSKEY
settings = Settings(
    environment="sandbox", consumer_key="k", consumer_secret="s",
    business_short_code="174379", passkey=SANDBOX_PASSKEY,
    stk_push_callback_url="https://insurer.example/cb",
)
before = datetime.now(UTC).isoformat()
body = DarajaCore(settings).build_stk_push("0708374149", 1, "POL1")
after = datetime.now(UTC).isoformat()
print(json.dumps({
    "before": before, "after": after, "timestamp": body.timestamp, "password": body.password,
    "tzname": time.tzname[0], "local": datetime.now().strftime("%Y%m%d%H%M%S"),
}))
"""


def _kenyan(moment: datetime) -> str:
    return (moment + timedelta(hours=3)).strftime("%Y%m%d%H%M%S")  # EAT has no DST


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_timestamp_is_kenyan_time_whatever_tz_the_process_runs_in(tz: str) -> None:
    env = dict(os.environ, TZ=tz, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    seen = json.loads(out.stdout)
    assert seen["tzname"] in ("UTC", "EST", "EDT")  # the child really ran in that TZ
    before = datetime.fromisoformat(seen["before"])
    after = datetime.fromisoformat(seen["after"])
    assert _kenyan(before) <= seen["timestamp"] <= _kenyan(after)
    # The process's local clock is 3 (UTC) or 7-8 (New York) hours away from Kenya's.
    assert seen["local"][:10] != seen["timestamp"][:10]
    decoded = base64.b64decode(seen["password"]).decode()
    assert decoded == SANDBOX_SHORT_CODE + SANDBOX_PASSKEY + seen["timestamp"]


def test_timestamp_uses_the_24_hour_clock() -> None:
    afternoon = FakeClock(datetime(2024, 7, 10, 12, 5, 9, tzinfo=UTC))  # 15:05:09 in Nairobi
    core = DarajaCore(make_settings(), clock=afternoon)
    body = core.build_stk_push("0708374149", 1, "POL1")
    assert body.timestamp == "20240710150509"
    assert base64.b64decode(body.password).decode().endswith("20240710150509")


def test_timestamp_crosses_midnight_in_kenya_before_utc() -> None:
    late = FakeClock(datetime(2024, 12, 31, 22, 30, 0, tzinfo=UTC))
    assert DarajaCore(make_settings(), clock=late).timestamp() == "20250101013000"


def test_password_is_base64_of_code_passkey_and_timestamp() -> None:
    core = DarajaCore(make_settings())
    expected = base64.b64encode(f"174379{SANDBOX_PASSKEY}20240710101526".encode()).decode()
    assert core.password("20240710101526") == expected
    # The fixture request's password is exactly that.
    assert fixture("stk_push_request")["Password"] == expected


def test_the_request_repr_never_shows_the_password() -> None:
    body = DarajaCore(make_settings(), clock=FakeClock()).build_stk_push("0708374149", 1, "POL1")
    assert body.password not in repr(body)
    assert "0708374149" not in repr(body)
    assert "254708374149" not in repr(body)
