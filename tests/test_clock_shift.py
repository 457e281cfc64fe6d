"""The year-ahead run (MPESA_TEST_TIME_SHIFT_DAYS) really moves this process's clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from mpesa_daraja_kit.clock import utc_now
from tests.conftest import TIME_SHIFT_VAR


def test_the_kit_clock_is_shifted_exactly_when_asked(tmp_path: Path) -> None:
    # The kernel stamps a new file with the real time; the kit's clock may be moved.
    probe = tmp_path / "now"
    probe.write_text("")
    kernel_now = datetime.fromtimestamp(probe.stat().st_mtime_ns / 1e9, UTC)
    shift = (utc_now() - kernel_now).total_seconds() / 86400
    wanted = int(os.environ.get(TIME_SHIFT_VAR, "").strip() or 0)
    assert abs(shift - wanted) < 0.01, f"kit clock is {shift:.3f} days off; asked {wanted}"
