"""``mpesa-kit register-urls``: register the C2B confirmation and validation URLs with Daraja.

The URLs default to the settings (``MPESA_CALLBACK_BASE_URL`` + ``/confirmation``
and ``/validation``, or ``MPESA_IPN_CONFIRMATION_URL`` / ``MPESA_IPN_VALIDATION_URL``);
a URL containing a word Safaricom refuses ("mpesa", "safaricom", "exec", "cmd",
"sql", "query") is refused before Daraja is called, naming the word. The API
version (``v1``/``v2``) and ``ResponseType`` come from the settings unless given.
Production registration is one-time: check with ``--dry-run`` first.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from mpesa_daraja_kit.cli.daraja import register_url_options
from mpesa_daraja_kit.client import AsyncDarajaClient
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.errors import MpesaKitError
from mpesa_daraja_kit.wire import unstructure

__all__ = ["register_urls"]


@click.command("register-urls")
@register_url_options
@click.option("--dry-run", is_flag=True, help="Check and print the request; do not call Daraja.")
def register_urls(
    confirmation_url: str | None,
    validation_url: str | None,
    response_type: str | None,
    api_version: str | None,
    dry_run: bool,
) -> None:
    """Register the C2B confirmation and validation URLs (settings from MPESA_* variables)."""

    async def run() -> dict[str, Any]:
        client = AsyncDarajaClient(Settings.from_env())
        try:
            version, request = client.core.build_c2b_register(
                confirmation_url, validation_url, response_type, api_version
            )
            out: dict[str, Any] = {"version": version, "request": unstructure(request)}
            if not dry_run:
                response = await client.register_c2b_urls(
                    request.confirmation_url, request.validation_url, request.response_type, version
                )
                out["response"] = unstructure(response)
            return out
        finally:
            await client.aclose()

    try:
        result = asyncio.run(run())
    except MpesaKitError as exc:
        click.echo(json.dumps({"error": exc.to_dict()}, indent=2, default=str), err=True)
        sys.exit(1)
    click.echo(json.dumps(result, indent=2))
