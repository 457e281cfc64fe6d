"""Run the benchmarks: ``python -m tests.bench [NAME …]`` (all when none is named)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["statements", "stk_callbacks", "confirmations", "linking", "token"]


def main(argv: list[str]) -> None:
    names = argv or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    for name in names:
        print(f"\n=== {name}\n", flush=True)
        importlib.import_module(f"tests.bench.{name}").run()


if __name__ == "__main__":
    main(sys.argv[1:])
