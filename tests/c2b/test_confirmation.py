"""Recording C2B confirmations: every fixture shape, enrichment, idempotency under concurrency."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.enums import (
    CallbackKind,
    CallbackOutcome,
    PaymentSource,
    StatementReasonType,
)
from mpesa_daraja_kit.hookspecs import hookimpl
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.log import configure_logging
from mpesa_daraja_kit.phone import hash_msisdn
from tests.c2b.conftest import confirmation, confirmation_body, payments, stk_callback
from tests.conftest import fixture_bytes
from tests.support import HostPlugin, kit_settings, make_kit, new_phone

SANDBOX_HASH = "bbff37cea44ac0b2d964ee0dfb8d2df8513dc7ba1b36129a929fc3fbd6dd4af4"


async def test_hashed_msisdn_fixture_is_recorded(kit: MpesaKit, plugin: HostPlugin) -> None:
    outcome = await kit.c2b.handle_confirmation(
        confirmation(fixture_bytes("c2b_confirmation_hashed_msisdn"))
    )
    assert outcome is CallbackOutcome.APPLIED
    (row,) = await payments(kit)
    assert row.transaction_reference == "SGA7RT61SV"
    assert row.source is PaymentSource.IPN
    assert row.paid_in == Decimal("1.00")
    assert row.balance == Decimal("49197.00")
    # 10:16:03 in Nairobi (UTC+3) is 07:16:03 UTC.
    assert row.completion_time == datetime(2024, 7, 10, 7, 16, 3, tzinfo=UTC)
    assert row.reason_type is StatementReasonType.PayBill_STK
    assert row.transaction_type == "Pay Bill"
    assert row.business_short_code == "174379"
    assert row.account_number == "POL0012345"
    assert row.account_key == "POL0012345"
    assert row.host_account_id == "policy-1"
    assert row.msisdn == SANDBOX_HASH  # the hash as received: the number is unknown
    assert row.msisdn_hash == SANDBOX_HASH == hash_msisdn("254708374149")
    assert (row.first_name, row.middle_name, row.last_name) == ("JOHN", None, "DOE")
    assert row.invoice_number is None and row.third_party_trans_id is None
    assert row.confirmed_by_ipn_at is not None
    assert row.confirmed_by_stk_at is None
    (recorded,) = plugin.of("mpesa_payment_recorded")
    assert recorded.receipt_number == "SGA7RT61SV"
    assert recorded.source == "IPN"
    assert recorded.amount == Decimal("1.00")
    assert recorded.account_reference == "POL0012345"
    assert recorded.host_account_id == "policy-1"
    assert recorded.msisdn_hash == SANDBOX_HASH
    assert recorded.payer_name is None  # names only with log_pii
    assert plugin.of("mpesa_payment_unmatched") == []


async def test_masked_msisdn_fixture_is_kept_as_received_without_hash(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    await kit.c2b.handle_confirmation(confirmation(fixture_bytes("c2b_confirmation_masked_msisdn")))
    (row,) = await payments(kit)
    assert row.transaction_reference == "SHB2KD81MN"
    assert row.paid_in == Decimal("750.00")
    assert row.completion_time == datetime(2024, 8, 11, 16, 30, 12, tzinfo=UTC)
    assert row.msisdn == "2547 ***** 126"
    assert row.msisdn_hash is None  # a mask matches nothing
    assert row.balance is None  # OrgAccountBalance ""
    assert (row.first_name, row.last_name) == ("PETER", None)
    assert row.host_account_id is None
    (unmatched,) = plugin.of("mpesa_payment_unmatched")
    assert unmatched.receipt_number == "SHB2KD81MN"
    assert unmatched.account_reference == "POL0055512"
    assert unmatched.amount == Decimal("750.00")
    assert unmatched.source == "IPN"
    assert unmatched.payment_id == str(row.id)


async def test_plain_msisdn_fixture_with_nulls_and_spaces(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    await kit.c2b.handle_confirmation(confirmation(fixture_bytes("c2b_confirmation_plain_msisdn")))
    (row,) = await payments(kit)
    assert row.transaction_reference == "PKL3B9X2QA"
    assert row.paid_in == Decimal("2500.00")
    assert row.balance == Decimal("1883304.50")
    assert row.completion_time == datetime(2021, 11, 22, 3, 38, 45, tzinfo=UTC)
    assert row.msisdn == "254722000111"
    assert row.msisdn_hash == hash_msisdn("254722000111")
    assert row.account_number == " pol0099881 "  # stored as the customer typed it
    assert row.account_key == "POL0099881"  # matched trimmed, case-insensitively
    assert row.host_account_id == "policy-2"
    assert row.invoice_number is None and row.third_party_trans_id is None  # JSON null
    assert (row.first_name, row.middle_name, row.last_name) == ("MARY", "W", "KAMAU")
    (recorded,) = plugin.of("mpesa_payment_recorded")
    assert recorded.account_reference == "pol0099881"  # trimmed, as typed
    assert plugin.of("mpesa_payment_unmatched") == []


async def test_buy_goods_fixture_has_no_reference_and_is_unmatched(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    await kit.c2b.handle_confirmation(confirmation(fixture_bytes("c2b_confirmation_buy_goods")))
    (row,) = await payments(kit)
    assert row.transaction_reference == "SHC4PL00ZZ"
    assert row.reason_type is StatementReasonType.PayBill_STK
    assert row.paid_in == Decimal("120.00")
    assert row.completion_time == datetime(2024, 8, 12, 5, 0, 0, tzinfo=UTC)
    assert row.business_short_code == "5123456"
    assert row.account_number is None and row.account_key is None
    (unmatched,) = plugin.of("mpesa_payment_unmatched")
    assert unmatched.account_reference is None


@pytest.mark.parametrize(
    ("transaction_type", "reason"),
    [
        ("Pay Bill", StatementReasonType.PayBill_STK),
        ("CustomerPayBillOnline", StatementReasonType.Paybill_MobileApp),
        ("Something New", StatementReasonType.Unmapped),
    ],
)
async def test_transaction_type_maps_to_reason_type(
    kit: MpesaKit, transaction_type: str, reason: StatementReasonType
) -> None:
    await kit.c2b.handle_confirmation(
        confirmation(confirmation_body(TransactionType=transaction_type))
    )
    (row,) = await payments(kit)
    assert row.reason_type is reason
    assert row.reason_type_raw == transaction_type


async def test_numbers_and_extra_keys_are_tolerated(kit: MpesaKit) -> None:
    body = confirmation_body()
    raw = json.dumps(body).replace('"TransAmount": "1.00"', '"TransAmount": 1.00')
    raw = raw.replace('"BusinessShortCode": "174379"', '"BusinessShortCode": 174379')
    raw = raw[:-1] + ', "NewDarajaField": {"x": 1}}'
    assert await kit.c2b.handle_confirmation(confirmation(raw.encode())) is (
        CallbackOutcome.APPLIED
    )
    (row,) = await payments(kit)
    assert row.paid_in == Decimal("1.00")
    assert row.business_short_code == "174379"


async def test_same_confirmation_again_changes_nothing(kit: MpesaKit, plugin: HostPlugin) -> None:
    body = confirmation_body()
    first = await kit.c2b.handle_confirmation(confirmation(body))
    (before,) = await payments(kit)
    again = await kit.c2b.handle_confirmation(confirmation(body))
    assert (first, again) == (CallbackOutcome.APPLIED, CallbackOutcome.DUPLICATE)
    (after,) = await payments(kit)
    assert after == before
    assert len(plugin.of("mpesa_payment_recorded")) == 1
    logged = await kit.callbacks.list(kind=CallbackKind.C2B_CONFIRMATION)
    assert [c.outcome for c in logged] == [CallbackOutcome.DUPLICATE, CallbackOutcome.APPLIED]
    assert {c.reference for c in logged} == {body["TransID"]}


async def test_fifty_concurrent_copies_make_one_row_and_one_event(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    body = confirmation_body()
    outcomes = await asyncio.gather(
        *(kit.c2b.handle_confirmation(confirmation(body)) for _ in range(50))
    )
    assert outcomes.count(CallbackOutcome.APPLIED) == 1
    assert outcomes.count(CallbackOutcome.DUPLICATE) == 49
    assert len(await payments(kit)) == 1
    assert len(plugin.of("mpesa_payment_recorded")) == 1
    assert len(await kit.callbacks.list(kind=CallbackKind.C2B_CONFIRMATION)) == 50


async def test_confirmation_enriches_the_row_an_stk_callback_recorded(
    kit: MpesaKit, plugin: HostPlugin
) -> None:
    phone = new_phone()
    view = (await kit.stk.initiate(phone, 1, "POL0012345")).request
    assert view.checkout_request_id
    await kit.stk.handle_callback(
        stk_callback(view.checkout_request_id, receipt="SGA0STK001", phone=phone)
    )
    (stk_row,) = await payments(kit)
    assert stk_row.source is PaymentSource.STK_CALLBACK
    assert stk_row.first_name is None and stk_row.balance is None
    body = confirmation_body(
        TransID="SGA0STK001", MSISDN=hash_msisdn(phone), TransAmount="1.00", FirstName="JANE"
    )
    assert await kit.c2b.handle_confirmation(confirmation(body)) is CallbackOutcome.APPLIED
    (row,) = await payments(kit)
    assert row.id == stk_row.id
    assert row.source is PaymentSource.STK_CALLBACK  # where it came from first
    assert row.paid_in == stk_row.paid_in
    assert row.confirmed_by_ipn_at is not None and row.confirmed_by_stk_at is not None
    assert row.first_name == "JANE"  # was empty: filled
    assert row.balance == Decimal("49197.00")  # was empty: filled
    assert row.msisdn == phone  # was known: kept (not replaced by the hash)
    assert row.mpesa_stk_push_request_id == view.id
    assert [e.source for e in plugin.of("mpesa_payment_recorded")] == ["STK_CALLBACK"]
    assert len(plugin.of("mpesa_payment_linked")) == 1
    again = await kit.c2b.handle_confirmation(confirmation(body))
    assert again is CallbackOutcome.DUPLICATE


class BrokenLookup:
    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> None:
        raise RuntimeError("policy system down")


async def test_lookup_hook_failure_still_records_the_payment(
    kit: MpesaKit, plugin: HostPlugin, caplog: pytest.LogCaptureFixture
) -> None:
    kit.pm.register(BrokenLookup())  # registered last: asked first
    body = confirmation_body()
    assert await kit.c2b.handle_confirmation(confirmation(body)) is CallbackOutcome.APPLIED
    (row,) = await payments(kit)
    assert row.host_account_id is None
    assert len(plugin.of("mpesa_payment_recorded")) == 1
    assert "mpesa_lookup_account failed" in caplog.text


async def test_payer_name_only_with_pii_enabled(engine: AsyncEngine) -> None:
    plugin = HostPlugin()
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9", log_pii=True), plugin)
    try:
        await kit.c2b.handle_confirmation(confirmation(confirmation_body(MiddleName="K")))
    finally:
        await kit.client.aclose()
        configure_logging(log_pii=False)
    (recorded,) = plugin.of("mpesa_payment_recorded")
    assert recorded.payer_name == "JOHN K DOE"
