"""Read models the services return (plain frozen objects; no ORM rows leak out)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from mpesa_daraja_kit.enums import (
    Direction,
    EntryKind,
    PaymentSource,
    StatementReasonType,
    StkPushStatus,
)
from mpesa_daraja_kit.phone import mask_msisdn

__all__ = ["PaymentView", "StkPushView"]


def _hidden(value: object) -> str:
    return "'***'" if value else repr(value)


@attrs.frozen(kw_only=True)
class StkPushView:
    """One STK Push request as the host sees it."""

    id: uuid.UUID
    checkout_request_id: str | None
    merchant_request_id: str | None
    status: StkPushStatus
    phone_number: str = attrs.field(repr=mask_msisdn)
    amount: Decimal
    account_reference: str
    transaction_desc: str | None
    result_code: str | None
    result_desc: str | None
    receipt_number: str | None
    linked_transaction_id: str | None
    transaction_date: datetime | None
    initiated_by: str | None
    host_account_id: str | None
    idempotency_key: str | None
    outcome_unknown: bool
    verified_at: datetime | None
    initiated_at: datetime
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> StkPushView:
        """Build the view from a ``mpesa_stk_push_requests`` row."""
        return cls(**{f.name: getattr(row, f.name) for f in attrs.fields(cls)})


@attrs.frozen(kw_only=True)
class PaymentView:
    """One payment row (money received, or a statement-only movement)."""

    id: uuid.UUID
    transaction_reference: str
    entry_kind: EntryKind
    direction: Direction
    source: PaymentSource
    completion_time: datetime
    initiation_time: datetime | None
    details: str | None
    transaction_status: str
    transaction_type: str | None
    paid_in: Decimal | None
    withdrawn: Decimal | None
    balance: Decimal | None
    reason_type: StatementReasonType
    account_number: str | None
    host_account_id: str | None
    msisdn: str | None = attrs.field(repr=mask_msisdn)
    msisdn_hash: str | None
    first_name: str | None = attrs.field(repr=_hidden)
    middle_name: str | None = attrs.field(repr=_hidden)
    last_name: str | None = attrs.field(repr=_hidden)
    business_short_code: str | None
    linked_transaction_id: str | None
    mpesa_stk_push_request_id: uuid.UUID | None
    link_method: str | None
    mpesa_payment_report_upload_id: uuid.UUID | None
    confirmed_by_ipn_at: datetime | None
    confirmed_by_stk_at: datetime | None
    confirmed_by_statement_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> PaymentView:
        """Build the view from a ``mpesa_payment_report_items`` row."""
        return cls(**{f.name: getattr(row, f.name) for f in attrs.fields(cls)})
