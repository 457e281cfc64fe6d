"""What the simulated Daraja remembers: tokens, prompts, registrations, payments.

All state sits behind one lock because the Python API (tests, the sample
host) may be called from another thread than the server's event loop.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import attrs

from mpesa_daraja_kit.simulator.checks import C2BSimulateRequest, Registration, StkPushRequest
from mpesa_daraja_kit.simulator.config import RESULTS, Api, Outcome, OutcomeSpec

__all__ = ["C2BPayment", "C2BStatus", "StkTransaction", "Store"]

_TOKEN_ALPHABET = string.ascii_letters + string.digits


@attrs.define(kw_only=True)
class StkTransaction:
    """One STK prompt: pending until the simulated customer answers."""

    merchant_request_id: str
    checkout_request_id: str
    request: StkPushRequest
    spec: OutcomeSpec
    outcome: Outcome
    created_at: datetime
    finished_at: datetime | None = None
    receipt_number: str | None = None
    org_balance: Decimal | None = None

    @property
    def pending(self) -> bool:
        """Tell whether the customer has not answered yet."""
        return self.finished_at is None

    def to_dict(self) -> dict[str, Any]:
        """Return the prompt as JSON-ready values."""
        code, desc = RESULTS[self.outcome]
        return {
            "merchant_request_id": self.merchant_request_id,
            "checkout_request_id": self.checkout_request_id,
            "phone_number": self.request.phone_number,
            "amount": self.request.amount,
            "account_reference": self.request.account_reference,
            "callback_url": self.request.callback_url,
            "outcome": str(self.outcome),
            "result_code": None if self.pending else code,
            "result_desc": None if self.pending else desc,
            "status": "pending" if self.pending else "finished",
            "receipt_number": self.receipt_number,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "spec": self.spec.to_dict(),
        }


class C2BStatus(StrEnum):
    """How a C2B payment ended."""

    PENDING = "pending"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@attrs.define(kw_only=True)
class C2BPayment:
    """A customer payment to a paybill or till (simulated or from an STK push)."""

    trans_id: str
    request: C2BSimulateRequest
    created_at: datetime
    status: C2BStatus = C2BStatus.PENDING
    validation_result: str | None = None
    from_stk: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the payment as JSON-ready values."""
        return {
            "trans_id": self.trans_id,
            "short_code": self.request.short_code,
            "command_id": self.request.command_id,
            "amount": self.request.amount,
            "msisdn": self.request.msisdn,
            "bill_ref_number": self.request.bill_ref_number,
            "status": str(self.status),
            "validation_result": self.validation_result,
            "checkout_request_id": self.from_stk,
            "created_at": self.created_at.isoformat(),
        }


class Store:
    """The simulator's memory, safe to use from several threads."""

    def __init__(self, opening_balance: Decimal) -> None:
        self.lock = threading.RLock()
        self._opening_balance = opening_balance
        self.tokens: dict[str, datetime] = {}
        self.transactions: dict[str, StkTransaction] = {}
        self.registrations: dict[str, Registration] = {}
        self.payments: list[C2BPayment] = []
        self.queue: deque[OutcomeSpec] = deque()
        self.balances: dict[str, Decimal] = {}

    def reset(self) -> None:
        """Forget prompts, registrations, payments and queued outcomes (tokens stay valid)."""
        with self.lock:
            self.transactions.clear()
            self.registrations.clear()
            self.payments.clear()
            self.queue.clear()
            self.balances.clear()

    # -- tokens -----------------------------------------------------------------------

    def issue_token(self, now: datetime, lifetime: int, *, single: bool) -> str:
        """Return a new access token valid for ``lifetime`` seconds."""
        token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(28))
        with self.lock:
            if single:
                self.tokens.clear()
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
            self.tokens[token] = now + timedelta(seconds=lifetime)
        return token

    def token_valid(self, token: str, now: datetime) -> bool:
        """Tell whether ``token`` was issued and has not expired."""
        with self.lock:
            expires = self.tokens.get(token)
        return expires is not None and now < expires

    def expire_tokens(self) -> None:
        """Make every issued token invalid (as if an hour had passed)."""
        with self.lock:
            self.tokens.clear()

    # -- outcomes ---------------------------------------------------------------------

    def queue_outcome(self, spec: OutcomeSpec) -> None:
        """Queue ``spec`` for the next matching request."""
        with self.lock:
            self.queue.append(spec)

    def take_queued(self, api: Api, phone_number: str) -> OutcomeSpec | None:
        """Remove and return the first queued spec for this API and phone, if any."""
        with self.lock:
            for spec in self.queue:
                if spec.api is api and spec.phone_number in (None, phone_number):
                    self.queue.remove(spec)
                    return spec
        return None

    # -- prompts ----------------------------------------------------------------------

    def open_prompt_for(self, phone_number: str) -> StkTransaction | None:
        """Return the pending prompt on this phone, if one is open."""
        with self.lock:
            for tx in self.transactions.values():
                if tx.pending and tx.request.phone_number == phone_number:
                    return tx
        return None

    def add_transaction(self, tx: StkTransaction) -> None:
        """Remember a new prompt."""
        with self.lock:
            self.transactions[tx.checkout_request_id] = tx

    def credit(self, short_code: str, amount: int) -> Decimal:
        """Add a payment to the organisation balance; return the new balance."""
        with self.lock:
            balance = self.balances.get(short_code, self._opening_balance) + amount
            self.balances[short_code] = balance
        return balance
