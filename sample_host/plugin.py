"""The insurer's plugin: who may call the kit, what an account number is, and what to do
when money arrives."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from mpesa_daraja_kit.events import (
    Account,
    PaymentLinked,
    PaymentRecorded,
    PaymentUnmatched,
    StkPushUpdated,
)
from mpesa_daraja_kit.hookspecs import hookimpl
from sample_host.insurer import Insurer

__all__ = ["API_KEY_HEADER", "InsurerPlugin"]

API_KEY_HEADER = "X-API-Key"

log = logging.getLogger("sample_host.plugin")


class InsurerPlugin:
    """Implements the kit's hooks for the sample insurer."""

    def __init__(self, insurer: Insurer, api_key: str) -> None:
        self.insurer = insurer
        self.api_key = api_key

    # -- questions --------------------------------------------------------------------

    @hookimpl
    def mpesa_authenticate(self, request: Any) -> str | None:
        """Accept the operator's API key (the host's middleware checked it already)."""
        given = request.headers.get(API_KEY_HEADER, "")
        if given and hmac.compare_digest(given.encode(), self.api_key.encode()):
            return "operator"
        return None

    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        """Return the policy whose payment account number this is."""
        policy = await self.insurer.policy_by_account(account_reference)
        if policy is None:
            return None
        return Account(
            reference=policy.payment_account_number,
            account_id=policy.number,
            display_name=f"{policy.number} · {policy.customer_name}",
            expected_amount=policy.premium,
            customer_phone=policy.customer_phone,
        )

    # -- events (at least once: the insurer dedupes by event id) ----------------------

    @hookimpl
    async def mpesa_payment_recorded(self, event: PaymentRecorded) -> None:
        """Record the premium and mark the policy paid when it is covered."""
        await self.insurer.record_premium(
            event_id=event.event_id,
            hook=event.hook,
            receipt_number=event.receipt_number,
            amount=event.amount,
            source=event.source,
            account_reference=event.account_reference,
            policy_number=event.host_account_id,
            stk_push_request_id=event.stk_push_request_id,
            received_at=event.transaction_time,
        )

    @hookimpl
    async def mpesa_payment_linked(self, event: PaymentLinked) -> None:
        """Note which prompt a premium answered (or record it, when the payment itself
        carried no known account)."""
        await self.insurer.record_premium(
            event_id=event.event_id,
            hook=event.hook,
            receipt_number=event.receipt_number,
            amount=event.amount,
            source="LINKED",
            account_reference=event.account_reference,
            policy_number=event.host_account_id,
            stk_push_request_id=event.stk_push_request_id,
            received_at=event.occurred_at,
        )

    @hookimpl
    def mpesa_stk_push_updated(self, event: StkPushUpdated) -> None:
        """Log prompt outcomes (the operator page reads them from the kit)."""
        log.info(
            "prompt for %s is %s (%s)", event.account_reference, event.status, event.result_desc
        )

    @hookimpl
    def mpesa_payment_unmatched(self, event: PaymentUnmatched) -> None:
        """Log money whose account number is no policy: finance must allocate it by hand."""
        log.warning(
            "payment %s of KES %s for unknown account %r needs allocating by hand",
            event.receipt_number,
            event.amount,
            event.account_reference,
        )
