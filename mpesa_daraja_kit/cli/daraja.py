"""``mpesa-kit daraja``: check credentials and call Daraja by hand, printing JSON.

The commands use the settings from ``MPESA_*`` variables (``MPESA_BASE_URL``
overrides the environment's Daraja host). Secrets are never printed; the
access token is shown masked unless ``--show-token`` is given.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import click

from mpesa_daraja_kit.cli._common import daraja_settings
from mpesa_daraja_kit.client import DarajaClient
from mpesa_daraja_kit.errors import MpesaKitError
from mpesa_daraja_kit.wire import unstructure

__all__ = ["daraja", "mask_token"]


def mask_token(token: str) -> str:
    """Return ``token`` with all but its first four characters hidden."""
    return f"{token[:4]}…({len(token)} characters)" if token else ""


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _run(action: Callable[[DarajaClient], Any]) -> None:
    """Build the client from the environment, run ``action`` and print its JSON.

    Missing settings are one line (``error: config_invalid: …``, exit 2); what
    Daraja refuses is its JSON error on one stderr line (exit 1).
    """
    settings = daraja_settings()
    try:
        with DarajaClient(settings) as client:
            _echo(action(client))
    except MpesaKitError as exc:
        click.echo(json.dumps({"error": exc.to_dict()}, default=str), err=True)
        sys.exit(1)


@click.group()
def daraja() -> None:
    """Check Daraja credentials and call Daraja by hand (settings from MPESA_* variables)."""


@daraja.command()
@click.option("--show-token", is_flag=True, help="Print the access token in full.")
def token(show_token: bool) -> None:
    """Fetch a new OAuth token (checks the consumer key and secret)."""

    def action(client: DarajaClient) -> dict[str, Any]:
        answer = client.fetch_token()
        return {
            "base_url": client.base_url,
            "access_token": answer.access_token if show_token else mask_token(answer.access_token),
            "expires_in": answer.expires_in,
        }

    _run(action)


@daraja.command("stk-push")
@click.option("--phone", required=True, help="Customer phone, e.g. 0708374149.")
@click.option("--amount", required=True, help="Whole shillings, e.g. 10.")
@click.option("--account-reference", required=True, help="Up to 12 letters and digits.")
@click.option("--description", default=None, help="TransactionDesc, up to 13 characters.")
@click.option("--callback-url", default=None, help="Overrides the configured callback URL.")
def stk_push(
    phone: str,
    amount: str,
    account_reference: str,
    description: str | None,
    callback_url: str | None,
) -> None:
    """Send an M-Pesa Express prompt to a phone (it is never re-sent automatically)."""

    def action(client: DarajaClient) -> dict[str, Any]:
        result = client.stk_push(
            phone, amount, account_reference, description, callback_url=callback_url
        )
        request = unstructure(result.request)
        request["Password"] = "***"  # noqa: S105 - hides base64(short code + passkey + …)
        return {"request": request, "response": unstructure(result.response)}

    _run(action)


@daraja.command("stk-query")
@click.argument("checkout_request_id")
def stk_query(checkout_request_id: str) -> None:
    """Ask Daraja for the result of an STK push by its CheckoutRequestID."""
    _run(lambda client: unstructure(client.stk_query(checkout_request_id)))


def register_url_options(command: Any) -> Any:
    """Add the C2B registration options."""
    for option in reversed(_REGISTER_URL_OPTIONS):
        command = option(command)
    return command


_REGISTER_URL_OPTIONS = [
    click.option("--confirmation-url", default=None, help="Default: from the settings."),
    click.option("--validation-url", default=None, help="Default: from the settings."),
    click.option(
        "--response-type",
        type=click.Choice(["Completed", "Cancelled"]),
        default=None,
        help="What M-Pesa does when validation does not answer (default: MPESA_C2B_RESPONSE_TYPE).",
    ),
    click.option(
        "--api-version",
        type=click.Choice(["v1", "v2"]),
        default=None,
        help="C2B register API version (default: MPESA_C2B_REGISTER_VERSION).",
    ),
]


@daraja.command("register-urls")
@register_url_options
@click.option("--dry-run", is_flag=True, help="Check and print the request; do not call Daraja.")
def register_urls(
    confirmation_url: str | None,
    validation_url: str | None,
    response_type: str | None,
    api_version: str | None,
    dry_run: bool,
) -> None:
    """Register the C2B confirmation and validation URLs (one-time in production).

    The URLs default to the settings (``MPESA_CALLBACK_BASE_URL`` + ``/confirmation``
    and ``/validation``, or ``MPESA_IPN_CONFIRMATION_URL`` / ``MPESA_IPN_VALIDATION_URL``);
    a URL containing a word Safaricom refuses is refused before Daraja is called.
    Without ``--dry-run`` it prints Daraja's answer; with it, the checked request.
    """

    def action(client: DarajaClient) -> dict[str, Any]:
        if dry_run:
            version, request = client.core.build_c2b_register(
                confirmation_url, validation_url, response_type, api_version
            )
            return {"version": version, "request": unstructure(request)}
        return unstructure(
            client.register_c2b_urls(confirmation_url, validation_url, response_type, api_version)
        )

    _run(action)
