"""Statement import benchmark (issue 7).

100 000 rows with half the money received already known via IPN, on SQLite and
PostgreSQL, beside the original plan's per-row algorithm (one look-up and one
insert per row) in the same run; then 1 000 000 rows for memory, as CSV and as
XLSX (``MPESA_BENCH_STATEMENT_BIG_ONLY=1`` runs only these).

Each measurement is repeated (``MPESA_BENCH_REPEAT``, 3 by default) on a fresh
database, alternating kit and per-row runs; the figures are the medians, with
the fastest and slowest kit runs beside them: shared machines drift by a third
from minute to minute, and one run says little.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tests.bench.common import database, run_child, save, table
from tests.statements.generator import StatementSpec, write_family_a_csv, write_family_a_xlsx

ROWS = int(os.environ.get("MPESA_BENCH_STATEMENT_ROWS", "100000"))
BIG_ROWS = int(os.environ.get("MPESA_BENCH_STATEMENT_BIG_ROWS", "1000000"))
PER_ROW_SAMPLE = int(os.environ.get("MPESA_BENCH_PER_ROW_SAMPLE", "5000"))
REPEAT = max(1, int(os.environ.get("MPESA_BENCH_REPEAT", "3")))
BIG_ONLY = os.environ.get("MPESA_BENCH_STATEMENT_BIG_ONLY", "") == "1"
WORKER = "tests.bench.statements_worker"


def _file(tmp: Path, rows: int, fmt: str = "csv") -> str:
    path = tmp / f"statement-{rows}.{fmt}"
    write = write_family_a_xlsx if fmt == "xlsx" else write_family_a_csv
    write(StatementSpec(seed=42, rows=rows), str(path))
    return str(path)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the run with the median time (the middle one; the slower middle when even)."""
    ordered = sorted(runs, key=lambda r: r["seconds"] / max(r["rows"], 1))
    return ordered[len(ordered) // 2]


def run() -> dict[str, Any]:
    results: dict[str, Any] = {
        "rows": ROWS,
        "per_row_sample": PER_ROW_SAMPLE,
        "repeat": REPEAT,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = _file(tmp, ROWS)
        for backend in () if BIG_ONLY else ("sqlite", "postgresql"):
            kits: list[dict[str, Any]] = []
            per_rows: list[dict[str, Any]] = []
            seeded = 0
            for _ in range(REPEAT):
                with database(backend, tmp) as url:
                    seeded = run_child(WORKER, ["seed", url, path, "0.5"])["seeded"]
                    kits.append(run_child(WORKER, ["kit", url, path]))
                with database(backend, tmp) as url:
                    run_child(WORKER, ["seed", url, path, "0.5"])
                    per_rows.append(run_child(WORKER, ["per_row", url, path, str(PER_ROW_SAMPLE)]))
            kit = _median_run(kits)
            per_row = _median_run(per_rows)
            kit_rate = kit["rows"] / kit["seconds"]
            per_row_rate = per_row["rows"] / per_row["seconds"]
            results["runs"].append(
                {
                    "backend": backend,
                    "known_via_ipn": seeded,
                    "kit": kit,
                    "kit_all_seconds": sorted(k["seconds"] for k in kits),
                    "per_row": per_row,
                    "per_row_all_rows_per_s": sorted(p["rows"] / p["seconds"] for p in per_rows),
                    "kit_rows_per_s": kit_rate,
                    "per_row_rows_per_s": per_row_rate,
                    "ratio": kit_rate / per_row_rate,
                }
            )
        results["big"] = []
        for fmt in ("csv", "xlsx"):
            big = _file(tmp, BIG_ROWS, fmt)
            with database("sqlite", tmp) as url:
                measured = run_child(WORKER, ["kit", url, big])
            results["big"].append({"backend": "sqlite", "format": fmt, **measured})
            Path(big).unlink()
    print(
        table(
            f"Statement import: {ROWS:,} rows, half the payments known via IPN "
            f"(per-row baseline measured on {PER_ROW_SAMPLE:,} rows; medians of {REPEAT} runs)",
            [
                "database",
                "kit s",
                "kit s min-max",
                "kit rows/s",
                "per-row rows/s",
                "ratio",
                "matched",
                "gaps",
                "peak RSS MB",
            ],
            [
                [
                    r["backend"],
                    r["kit"]["seconds"],
                    f"{r['kit_all_seconds'][0]:.2f}-{r['kit_all_seconds'][-1]:.2f}",
                    r["kit_rows_per_s"],
                    r["per_row_rows_per_s"],
                    r["ratio"],
                    r["kit"]["matched"],
                    r["kit"]["gaps"],
                    r["kit"]["peak_rss_mb"],
                ]
                for r in results["runs"]
            ],
        )
    )
    print(
        table(
            f"Statement import: {BIG_ROWS:,} rows (memory)",
            ["database", "format", "rows", "seconds", "rows/s", "file MB", "peak RSS MB"],
            [
                [
                    big["backend"],
                    big["format"],
                    big["rows"],
                    big["seconds"],
                    big["rows"] / big["seconds"],
                    big["file_mb"],
                    big["peak_rss_mb"],
                ]
                for big in results["big"]
            ],
        )
    )
    save("statements", results)
    return results
