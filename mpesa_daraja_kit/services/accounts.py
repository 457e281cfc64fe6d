"""Asking the host about accounts (policies) through ``mpesa_lookup_account``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pluggy

from mpesa_daraja_kit.events import Account
from mpesa_daraja_kit.plugins import ask
from mpesa_daraja_kit.reference import normalize_account_reference

__all__ = ["lookup_account"]


def _coerce(answer: Any, reference: str) -> Account:
    if isinstance(answer, Account):
        return answer
    if isinstance(answer, Mapping):
        known = {f.name for f in attrs.fields(Account)}
        values = {k: v for k, v in answer.items() if k in known}
        values.setdefault("reference", reference)
        return Account(**values)
    # Any other truthy answer means "known"; keep its text as the host's id.
    return Account(reference=reference, account_id=str(answer))


async def lookup_account(pm: pluggy.PluginManager, account_reference: str | None) -> Account | None:
    """Return the host's account for a reference (trimmed), or None when unknown or empty."""
    reference = normalize_account_reference(account_reference)
    if not reference:
        return None
    answer = await ask(pm, "mpesa_lookup_account", account_reference=reference)
    if answer is None or answer is False:
        return None
    return _coerce(answer, reference)
