"""Each event spells its own dedupe key: one change, one key, whichever flow writes it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from mpesa_daraja_kit.events import (
    PaymentLinked,
    PaymentRecorded,
    PaymentUnmatched,
    StatementImported,
    StkPushMissingIpn,
    StkPushUpdated,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_every_event_spells_the_key_the_outbox_has_always_used() -> None:
    recorded = PaymentRecorded(
        occurred_at=T0, payment_id="p1", receipt_number="TJ4C9R5W01", source="IPN",
        amount=Decimal("1.00"), account_reference=None, host_account_id=None,
        transaction_time=T0, msisdn_hash=None,
    )  # fmt: skip
    unmatched = PaymentUnmatched(
        occurred_at=T0, payment_id="p1", receipt_number="TJ4C9R5W01", account_reference=None,
        amount=Decimal("1.00"), source="IPN",
    )  # fmt: skip
    linked = PaymentLinked(
        occurred_at=T0, payment_id="p1", stk_push_request_id="r1", receipt_number="TJ4C9R5W01",
        account_reference="A", host_account_id=None, amount=Decimal("1.00"), method="receipt",
    )  # fmt: skip
    updated = StkPushUpdated(
        occurred_at=T0, stk_push_request_id="r1", status="COMPLETED", previous_status="PENDING",
        checkout_request_id=None, account_reference="A", host_account_id=None,
        amount=Decimal("1.00"), result_code=None, result_desc=None, receipt_number=None,
        phone_hash="h",
    )  # fmt: skip
    imported = StatementImported(
        occurred_at=T0, upload_id="u1", status="COMPLETED", total_statement_items=0,
        matched_ipn_records=0, duplicate_statement_records=0, gaps_filled=0, failed_items=0,
    )  # fmt: skip
    missing = StkPushMissingIpn(
        occurred_at=T0, stk_push_request_id="r1", receipt_number=None, account_reference="A",
        amount=Decimal("1.00"), completed_at=None,
    )  # fmt: skip
    assert recorded.dedupe_key == "payment_recorded:TJ4C9R5W01"
    assert unmatched.dedupe_key == "payment_unmatched:TJ4C9R5W01"
    assert linked.dedupe_key == "payment_linked:p1:r1"
    assert updated.dedupe_key == "stk_push_updated:r1:COMPLETED"
    assert imported.dedupe_key == "statement_imported:u1"
    assert missing.dedupe_key == "stk_push_missing_ipn:r1"
