"""``mpesa-kit statements``: import an org-portal statement from the command line."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click

from mpesa_daraja_kit.cli._common import open_kit, url_option
from mpesa_daraja_kit.errors import MpesaKitError
from mpesa_daraja_kit.web.statements import upload_dto


@click.group()
def statements() -> None:
    """Import M-Pesa statements (CSV, XLS, XLSX) to fill gaps."""


@statements.command("import")
@url_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--uploaded-by", default=None, help="Who uploads it (default: $USER).")
@click.option("--quiet", is_flag=True, help="No progress bar; print only the report.")
def import_(url: str | None, file: Path, uploaded_by: str | None, quiet: bool) -> None:
    """Import FILE and print the upload's statistics as JSON."""
    kit = open_kit(url)

    async def run() -> dict[str, object]:
        try:
            with click.progressbar(
                length=0, label=f"importing {file.name}", show_pos=True, hidden=quiet
            ) as bar:
                report = await kit.statements.import_file(
                    str(file),
                    uploaded_by=uploaded_by or os.environ.get("USER") or "cli",
                    filename=file.name,
                    progress=bar.update,
                )
            await kit.events.drain()
            return upload_dto(report)
        finally:
            await kit.aclose()

    try:
        dto = asyncio.run(run())
    except MpesaKitError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    click.echo(json.dumps(dto, indent=2))
