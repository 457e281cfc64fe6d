"""The host contract's plumbing: one plugin manager per kit, question hooks awaited in turn."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

from mpesa_daraja_kit.config import C2BValidationMode
from mpesa_daraja_kit.events import Account, C2BDecision
from mpesa_daraja_kit.hookspecs import hookimpl
from mpesa_daraja_kit.plugins import ask, has_host_implementation, make_plugin_manager


def manager(*plugins: Any) -> pluggy.PluginManager:
    return make_plugin_manager(plugins, validation_mode=C2BValidationMode.KNOWN_ACCOUNT)


def test_a_misspelled_hook_fails_at_start_up() -> None:
    class Typo:
        @hookimpl
        def mpesa_lookup_acount(self, account_reference: str) -> None:  # sic
            return None

    with pytest.raises(pluggy.PluginValidationError, match="mpesa_lookup_acount"):
        manager(Typo())


async def test_question_hooks_are_awaited_in_turn_first_non_none_wins() -> None:
    calls: list[str] = []

    class AsyncNone:  # an async implementation that answers None must not stop the chain
        @hookimpl
        async def mpesa_lookup_account(self, account_reference: str) -> None:
            calls.append("async-none")

    class SyncAnswer:
        @hookimpl(trylast=True)
        def mpesa_lookup_account(self, account_reference: str) -> Account:
            calls.append("sync")
            return Account(reference=account_reference, account_id="p-1")

    pm = manager(SyncAnswer(), AsyncNone())
    answer = await ask(pm, "mpesa_lookup_account", account_reference="POL1")
    assert answer == Account(reference="POL1", account_id="p-1")
    assert calls == ["async-none", "sync"]


async def test_implementations_take_any_subset_of_the_arguments() -> None:
    class AccountOnly:
        @hookimpl
        def mpesa_validate_c2b(self, account: Account | None) -> C2BDecision:
            return C2BDecision.reject("C2B00013", "amount")

    pm = manager(AccountOnly())
    decision = await ask(pm, "mpesa_validate_c2b", payment=object(), account=None)
    assert decision.result_code == "C2B00013"


async def test_the_default_validation_answers_last() -> None:
    pm = manager()
    assert not has_host_implementation(pm, "mpesa_validate_c2b")
    unknown = await ask(pm, "mpesa_validate_c2b", payment=object(), account=None)
    known = await ask(pm, "mpesa_validate_c2b", payment=object(), account=Account(reference="A"))
    assert (unknown.accepted, unknown.result_code) == (False, "C2B00012")
    assert known.accepted


def test_each_kit_has_its_own_manager() -> None:
    class Host:
        @hookimpl
        def mpesa_authenticate(self, request: Any) -> str:
            return "x"

    first, second = manager(Host()), manager()
    assert has_host_implementation(first, "mpesa_authenticate")
    assert not has_host_implementation(second, "mpesa_authenticate")
