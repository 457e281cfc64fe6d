"""The ``mpesa-kit`` command line.

Each command group lives in its own module of this package and is listed in
``_GROUPS``; the groups are imported lazily so that ``mpesa-kit --help`` stays
fast and a missing optional dependency only breaks its own group.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

try:
    import click
except ImportError:  # pragma: no cover - exercised only without the [cli] extra
    click = None  # type: ignore[assignment]

# (module under mpesa_daraja_kit.cli, attribute holding the click command)
_GROUPS: list[tuple[str, str]] = [
    ("db", "db"),
    ("daraja", "daraja"),
    ("simulator", "simulator"),
    ("callbacks", "callbacks"),
    ("register", "register_urls"),
    ("statements", "statements"),
    ("reconcile", "reconcile"),
]


def _build() -> Any:
    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="mpesa_daraja_kit")
    def cli() -> None:
        """M-Pesa Daraja kit: database, Daraja client, simulator and operator commands."""

    for module_name, attr in _GROUPS:
        module = importlib.import_module(f"mpesa_daraja_kit.cli.{module_name}")
        cli.add_command(getattr(module, attr))
    return cli


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``mpesa-kit`` console script)."""
    if click is None:
        sys.stderr.write(
            "mpesa-kit needs the command-line extra: pip install 'mpesa_daraja_kit[cli]'\n"
        )
        raise SystemExit(2)
    _build().main(args=argv, prog_name="mpesa-kit")


def get_command() -> Any:
    """Return the root click group (for tests using ``click.testing.CliRunner``)."""
    return _build()
