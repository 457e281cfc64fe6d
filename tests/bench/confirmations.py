"""C2B confirmation throughput and latency (issue 10): kit vs bare Starlette, nothing lost."""

from __future__ import annotations

from typing import Any

from tests.bench.callbacks import CONFIRMATION_CHECKS, finish, run_kind


def run() -> dict[str, Any]:
    results = run_kind(
        "confirmation", "C2B_CONFIRMATION", CONFIRMATION_CHECKS, None, "C2B confirmations"
    )
    return finish("confirmations", results)
