"""``mpesa-kit statements``: import an org-portal statement from the command line.

Progress goes to stderr (a bar with the row count when the total is known, a
running count otherwise); stdout carries only the report, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import click

from mpesa_daraja_kit.cli._common import open_kit, url_option
from mpesa_daraja_kit.db.migrate import check_schema
from mpesa_daraja_kit.web.statements import upload_dto


class _Progress:
    """A running row count on stderr (the total is unknown until the file is read)."""

    def __init__(self, label: str, *, hidden: bool) -> None:
        self.label = label
        self.rows = 0
        self.live = not hidden and sys.stderr.isatty()
        self.hidden = hidden

    def update(self, rows: int) -> None:
        self.rows += rows
        if self.live:
            click.echo(f"\r{self.label}: {self.rows} rows", err=True, nl=False)

    def finish(self) -> None:
        if self.hidden:
            return
        prefix = "\r" if self.live else ""
        click.echo(f"{prefix}{self.label}: {self.rows} rows read", err=True)


@click.group()
def statements() -> None:
    """Import M-Pesa statements (CSV, XLS, XLSX) to fill gaps."""


@statements.command("import")
@url_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--uploaded-by", default=None, help="Who uploads it (default: $USER).")
@click.option("--quiet", is_flag=True, help="No progress on stderr; print only the report.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    default=True,
    help="Print the report as JSON (the default; stdout carries nothing else).",
)
def import_(
    url: str | None, file: Path, uploaded_by: str | None, quiet: bool, as_json: bool
) -> None:
    """Import FILE and print the upload's statistics as JSON on stdout."""
    kit = open_kit(url)

    async def run() -> dict[str, object]:
        try:
            await check_schema(kit.engine)
            progress = _Progress(f"importing {file.name}", hidden=quiet)
            report = await kit.statements.import_file(
                str(file),
                uploaded_by=uploaded_by or os.environ.get("USER") or "cli",
                filename=file.name,
                progress=progress.update,
            )
            progress.finish()
            await kit.events.drain()
            return upload_dto(report)
        finally:
            await kit.aclose()

    click.echo(json.dumps(asyncio.run(run()), indent=2))
