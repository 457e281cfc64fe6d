"""The ``mpesa-kit`` command line.

Each command group lives in its own module of this package and is listed in
``_GROUPS``; the groups are imported lazily so that ``mpesa-kit --help`` stays
fast and a missing optional dependency only breaks its own group.

Failures are reported in one place (:class:`_KitGroup`): one line on stderr,
``error: …``, saying what is wrong and what to run, with a stable exit code
(:data:`EXIT_CODES`); ``mpesa-kit --debug …`` shows the full traceback instead.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

try:
    import click
except ImportError:  # pragma: no cover - exercised only without the [cli] extra
    click = None  # type: ignore[assignment]

__all__ = ["EXIT_CODES", "get_command", "main"]

EXIT_CODES = {
    "error": 1,  # an unexpected error, or Daraja refused / failed
    "usage": 2,  # bad arguments or configuration (a missing variable, an unknown driver)
    "database": 3,  # the database is unreachable, missing, or its schema is behind
    "interrupted": 130,
}

# (module under mpesa_daraja_kit.cli, attribute holding the click command)
_GROUPS: list[tuple[str, str]] = [
    ("db", "db"),
    ("daraja", "daraja"),
    ("simulator", "simulator"),
    ("callbacks", "callbacks"),
    ("events", "events"),
    ("statements", "statements"),
    ("reconcile", "reconcile"),
]


def _build() -> Any:
    from mpesa_daraja_kit.cli._errors import KitGroup

    @click.group(cls=KitGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="mpesa_daraja_kit")
    @click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool) -> None:
        """M-Pesa Daraja kit: database, Daraja client, simulator and operator commands."""
        ctx.meta["mpesa_kit.debug"] = debug

    for module_name, attr in _GROUPS:
        module = importlib.import_module(f"mpesa_daraja_kit.cli.{module_name}")
        cli.add_command(getattr(module, attr))
    return cli


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``mpesa-kit`` console script)."""
    if click is None:
        sys.stderr.write(
            "error: mpesa-kit needs the command-line extra; "
            "run: pip install 'mpesa_daraja_kit[cli]'\n"
        )
        raise SystemExit(EXIT_CODES["usage"])
    _build().main(args=argv, prog_name="mpesa-kit")


def get_command() -> Any:
    """Return the root click group (for tests using ``click.testing.CliRunner``)."""
    return _build()
