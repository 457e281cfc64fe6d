"""``mpesa-kit callbacks``: list the callback log and replay stored callbacks after a fix.

Every body Safaricom sent is kept as received. ``list --failed`` shows those
that could not be read or recorded, with their reason; ``list --unsettled``
every body not finished (also those whose processing was interrupted,
``RECEIVED``, and STK callbacks ``WAITING`` for their request); ``replay ID`` or
``replay --all-failed`` applies them again (idempotently: a receipt already
recorded is not recorded twice). Phone numbers and names in the bodies are
masked unless ``--show-pii`` is given.

Replaying records payments and queues events, so it needs the host's plugins
(``--plugin package.module:object`` or ``MPESA_KIT_PLUGINS``): without them
payments would not be tagged with their accounts and events would be
delivered to nobody. Hosts can call ``kit.replay_callback(id)`` from Python.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from mpesa_daraja_kit.cli._common import database_url as _url
from mpesa_daraja_kit.cli._common import open_kit
from mpesa_daraja_kit.cli._common import url_option as _url_option
from mpesa_daraja_kit.db.engine import create_kit_engine
from mpesa_daraja_kit.db.migrate import check_schema
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.log import redact_payload, redact_text
from mpesa_daraja_kit.services.callbacks import CallbackLogService, CallbackRecord
from mpesa_daraja_kit.services.replay import ReplayResult

__all__ = ["UNSETTLED", "callbacks", "load_plugins", "render_record"]

UNSETTLED = (CallbackOutcome.FAILED, CallbackOutcome.RECEIVED, CallbackOutcome.WAITING)
"""Outcomes that are not an end: waiting for a fix, an interrupted apply, or the request."""


def render_record(record: CallbackRecord, *, show_pii: bool = False) -> dict[str, Any]:
    """Return a stored callback as JSON-ready data, its body masked unless ``show_pii``."""
    text = record.raw_body.decode("utf-8", errors="replace")
    body: Any
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    if not show_pii:
        body = redact_payload(body)
    message = record.error_message
    return {
        "id": record.id,
        "kind": record.kind.value,
        "outcome": record.outcome.value,
        "received_at": record.received_at.isoformat(),
        "processed_at": record.processed_at.isoformat() if record.processed_at else None,
        "reference": record.reference,
        "error_code": record.error_code,
        "error_message": message if show_pii or message is None else redact_text(message),
        "correlation_id": record.correlation_id,
        "source_address": record.source_address,
        "content_type": record.content_type,
        "attempts": record.attempts,
        "body": body,
    }


def load_plugins(specs: Iterable[str]) -> list[Any]:
    """Import ``package.module`` or ``package.module:object`` plugin specs."""
    plugins = []
    for spec in specs:
        for item in spec.replace(",", " ").split():
            module_name, _, attr = item.partition(":")
            try:
                module = importlib.import_module(module_name)
                plugins.append(getattr(module, attr) if attr else module)
            except (ImportError, AttributeError) as exc:
                raise click.BadParameter(f"cannot load plugin {item!r}: {exc}") from None
    return plugins


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _plugin_options(command: Any) -> Any:
    """Add ``--plugin`` (repeatable, or ``MPESA_KIT_PLUGINS``) and ``--no-plugins``."""
    command = click.option(
        "--no-plugins",
        is_flag=True,
        help="Replay without the host's plugins (no account tagging; events wait in the "
        "outbox for the host's own dispatcher).",
    )(command)
    return click.option(
        "--plugin",
        "plugin_specs",
        multiple=True,
        envvar="MPESA_KIT_PLUGINS",
        help="The host's plugin, package.module[:object] (repeatable; or MPESA_KIT_PLUGINS).",
    )(command)


def _required_plugins(plugin_specs: Sequence[str], no_plugins: bool) -> list[Any]:
    """Load the host's plugins; a usage error when none is given and --no-plugins is not."""
    plugins = load_plugins(plugin_specs)
    if not plugins and not no_plugins:
        raise click.UsageError(
            "replaying records payments and fires events: pass the host's plugins with "
            "--plugin package.module:object (or MPESA_KIT_PLUGINS), or --no-plugins to "
            "replay without account tagging (events then wait for the host's dispatcher)"
        )
    return plugins


@click.group()
def callbacks() -> None:
    """Inspect the callback log and replay stored callbacks."""


@callbacks.command("list")
@_url_option
@click.option("--failed", is_flag=True, help="Only callbacks waiting for a fix (FAILED).")
@click.option(
    "--unsettled",
    is_flag=True,
    help="Every callback not finished: FAILED, interrupted (RECEIVED) and WAITING.",
)
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    type=click.Choice([o.value for o in CallbackOutcome]),
    help="Only these outcomes (repeatable).",
)
@click.option("--kind", type=click.Choice([k.value for k in CallbackKind]), default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--show-pii", is_flag=True, help="Show phone numbers and names unmasked.")
def list_callbacks(
    url: str | None,
    failed: bool,
    unsettled: bool,
    outcomes: Sequence[str],
    kind: str | None,
    limit: int,
    show_pii: bool,
) -> None:
    """Print stored callbacks as JSON, newest first."""
    wanted = [CallbackOutcome(o) for o in outcomes]
    if failed:
        wanted.append(CallbackOutcome.FAILED)
    if unsettled:
        wanted.extend(UNSETTLED)

    async def run() -> list[CallbackRecord]:
        engine = create_kit_engine(_url(url))
        try:
            await check_schema(engine)
            service = CallbackLogService(engine)
            return await service.list(
                outcomes=wanted or None,
                kind=CallbackKind(kind) if kind else None,
                limit=limit,
            )
        finally:
            await engine.dispose()

    _echo([render_record(r, show_pii=show_pii) for r in asyncio.run(run())])


@callbacks.command()
@_url_option
@click.argument("callback_id", type=int, required=False)
@click.option(
    "--all-failed",
    is_flag=True,
    help="Replay every FAILED callback and every interrupted one (RECEIVED), oldest first.",
)
@click.option("--force", is_flag=True, help="Also re-apply a callback already applied.")
@_plugin_options
def replay(
    url: str | None,
    callback_id: int | None,
    all_failed: bool,
    force: bool,
    plugin_specs: Sequence[str],
    no_plugins: bool,
) -> None:
    """Apply stored callbacks again after the cause of their failure is fixed."""
    if (callback_id is None) == (not all_failed):
        raise click.UsageError("give a callback ID or --all-failed (not both)")
    plugins = _required_plugins(plugin_specs, no_plugins)
    database_url = _url(url)

    async def run() -> list[ReplayResult]:
        kit = open_kit(database_url, plugins=plugins, deliver_events=bool(plugins))
        try:
            await check_schema(kit.engine)
            if callback_id is not None:
                return [await kit.replay_callback(callback_id, force=force)]
            return await kit.replay_failed_callbacks()
        finally:
            await kit.aclose()

    results = asyncio.run(run())
    _echo([_result_dict(r) for r in results])
    if any(r.outcome is CallbackOutcome.FAILED for r in results):
        sys.exit(1)


@callbacks.command("replay-spool")
@_url_option
@_plugin_options
def replay_spool(url: str | None, plugin_specs: Sequence[str], no_plugins: bool) -> None:
    """Store and apply the callbacks spooled while the database was unavailable."""
    plugins = _required_plugins(plugin_specs, no_plugins)
    database_url = _url(url)

    async def run() -> dict[str, Any]:
        kit = open_kit(database_url, plugins=plugins, deliver_events=bool(plugins))
        try:
            await check_schema(kit.engine)
            result = await kit.replay_spool()
            folder = kit.spool.spool.directory if kit.spool is not None else None
        finally:
            await kit.aclose()
        return {
            "spool": str(folder) if folder else None,
            "stored": result.stored,
            "remaining": result.remaining,
            "quarantined": result.quarantined,
        }

    summary = asyncio.run(run())
    _echo(summary)
    if summary["remaining"]:
        sys.exit(1)


def _result_dict(result: ReplayResult) -> dict[str, Any]:
    """Return a replay result as JSON-ready data."""
    return {
        "id": result.callback_id,
        "kind": result.kind.value,
        "previous": result.previous.value,
        "outcome": result.outcome.value,
        "replayed": result.replayed,
        "error_code": result.error_code,
        "error_message": result.error_message,
    }
