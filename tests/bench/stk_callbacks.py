"""STK callback throughput and latency (issue 10): requests pre-created, kit vs bare Starlette."""

from __future__ import annotations

from typing import Any

from tests.bench.callbacks import STK_CHECKS, finish, precreate_stk, run_kind


def run() -> dict[str, Any]:
    results = run_kind(
        "stk", "STK_CALLBACK", STK_CHECKS, precreate_stk, "STK callbacks (successful payments)"
    )
    return finish("stk_callbacks", results)
