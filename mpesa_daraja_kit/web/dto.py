"""The JSON shapes of the internal app (the original plan's DTOs, camelCase)."""

from __future__ import annotations

from typing import Any

from mpesa_daraja_kit.services.views import PaymentView, StkPushView
from mpesa_daraja_kit.web.responses import json_ready

__all__ = ["payment_dto", "stk_push_dto"]


def stk_push_dto(view: StkPushView) -> dict[str, Any]:
    """Return ``StkPushRequestResponseDto``: the original plan's fields plus results and times."""
    dto: dict[str, Any] = json_ready(
        {
            "id": view.id,
            "checkoutRequestID": view.checkout_request_id,
            "merchantRequestID": view.merchant_request_id,
            "status": view.status,
            "phoneNumber": view.phone_number,
            "amount": view.amount,
            "accountReference": view.account_reference,
            "transactionDesc": view.transaction_desc,
            "resultCode": view.result_code,
            "resultDesc": view.result_desc,
            "mpesaReceiptNumber": view.receipt_number,
            "linkedTransactionId": view.linked_transaction_id,
            "transactionDate": view.transaction_date,
            "initiatedBy": view.initiated_by,
            "outcomeUnknown": view.outcome_unknown,
            "verifiedAt": view.verified_at,
            "initiatedAt": view.initiated_at,
            "completedAt": view.completed_at,
            "createdAt": view.created_at,
            "updatedAt": view.updated_at,
        }
    )
    return dto


def payment_dto(view: PaymentView) -> dict[str, Any]:
    """Return one payment item (``MpesaPaymentReportItem``) as JSON."""
    dto: dict[str, Any] = json_ready(
        {
            "id": view.id,
            "transactionReference": view.transaction_reference,
            "entryKind": view.entry_kind,
            "direction": view.direction,
            "source": view.source,
            "completionTime": view.completion_time,
            "initiationTime": view.initiation_time,
            "details": view.details,
            "transactionStatus": view.transaction_status,
            "transactionType": view.transaction_type,
            "paidIn": view.paid_in,
            "withdrawn": view.withdrawn,
            "balance": view.balance,
            "reasonType": view.reason_type,
            "accountNumber": view.account_number,
            "hostAccountId": view.host_account_id,
            "msisdn": view.msisdn,
            "msisdnHash": view.msisdn_hash,
            "firstName": view.first_name,
            "middleName": view.middle_name,
            "lastName": view.last_name,
            "businessShortCode": view.business_short_code,
            "mpesaStkPushRequestId": view.mpesa_stk_push_request_id,
            "linkMethod": view.link_method,
            "mpesaPaymentReportUploadId": view.mpesa_payment_report_upload_id,
            "confirmedByIpnAt": view.confirmed_by_ipn_at,
            "confirmedByStkAt": view.confirmed_by_stk_at,
            "confirmedByStatementAt": view.confirmed_by_statement_at,
            "createdAt": view.created_at,
        }
    )
    return dto
