"""The converter: tolerant inbound, strict outbound, one PayloadError naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from mpesa_daraja_kit.errors import ErrorCode, PayloadError
from mpesa_daraja_kit.wire import (
    WIRE_NAMES,
    C2BConfirmationAnswer,
    C2BPayment,
    C2BRegisterRequest,
    C2BValidationAnswer,
    DarajaErrorBody,
    OAuthToken,
    StkCallback,
    StkPushRequest,
    StkPushResponse,
    StkQueryResponse,
    parse_c2b_payment,
    parse_stk_callback,
    structure,
    unstructure,
)


def _callback(**overrides: Any) -> dict[str, Any]:
    items: list[dict[str, Any]] = overrides.pop(
        "items",
        [
            {"Name": "PhoneNumber", "Value": 254708374149},
            {"Name": "TransactionDate", "Value": 20240710101603},
            {"Name": "MpesaReceiptNumber", "Value": "SGA7RT61SV"},
            {"Name": "Amount", "Value": Decimal("1.0")},
        ],
    )
    body: dict[str, Any] = {
        "MerchantRequestID": "m-1",
        "CheckoutRequestID": "ws_CO_1",
        "ResultCode": 0,
        "ResultDesc": "ok",
        "CallbackMetadata": {"Item": items},
    }
    body.update(overrides)
    return {"Body": {"stkCallback": body}}


def _payment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TransactionType": "Pay Bill",
        "TransID": "SGA7RT61SV",
        "TransTime": "20240710101603",
        "TransAmount": "1.00",
        "BusinessShortCode": "174379",
        "BillRefNumber": "POL0012345",
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": None,
        "MSISDN": "254708374149",
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "DOE",
    }
    body.update(overrides)
    return body


# -- inbound tolerance ----------------------------------------------------------------


def test_callback_items_are_found_by_name_in_any_order() -> None:
    callback = parse_stk_callback(_callback())
    assert callback.amount == Decimal("1.00")
    assert callback.receipt_number == "SGA7RT61SV"
    assert callback.transaction_date == datetime(2024, 7, 10, 7, 16, 3, tzinfo=UTC)
    assert callback.phone_number == "254708374149"


@pytest.mark.parametrize("raw", [b"1", b"1.0", b"1.00", b'"1.00"'])
def test_callback_amount_in_every_form_is_the_same_decimal(raw: bytes) -> None:
    text = json.dumps(_callback(items=[])).replace(
        '"Item": []', '"Item": [{"Name": "Amount", "Value": ' + raw.decode() + "}]"
    )
    amount = parse_stk_callback(text.encode()).amount
    assert amount == Decimal("1.00")
    assert isinstance(amount, Decimal)


def test_json_numbers_are_never_floats() -> None:
    body = (
        b'{"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": "c", '
        b'"ResultCode": 0, "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": 0.10}, '
        b'{"Name": "Balance", "Value": 1234567.89}]}}}}'
    )
    callback = parse_stk_callback(body)
    assert callback.amount == Decimal("0.10")
    assert callback.balance == Decimal("1234567.89")


def test_result_code_text_or_number_is_text() -> None:
    assert parse_stk_callback(_callback(ResultCode="1032")).result_code == "1032"
    assert parse_stk_callback(_callback(ResultCode=1032)).result_code == "1032"
    assert parse_stk_callback(_callback(ResultCode="SFC_IC0003")).result_code == "SFC_IC0003"
    query = structure({"ResponseCode": 0, "ResultCode": 1037}, StkQueryResponse)
    assert (query.response_code, query.result_code) == ("0", "1037")


def test_callback_status_follows_the_result_code() -> None:
    assert parse_stk_callback(_callback(ResultCode=1037)).status.value == "EXPIRED"
    assert parse_stk_callback(_callback(ResultCode=0)).status.value == "COMPLETED"


def test_expires_in_as_number_or_text() -> None:
    assert structure({"access_token": "t", "expires_in": 3599}, OAuthToken).expires_in == 3599
    assert structure({"access_token": "t", "expires_in": " 3599 "}, OAuthToken).expires_in == 3599


def test_unknown_keys_are_ignored() -> None:
    answer = structure(
        {
            "MerchantRequestID": "m",
            "CheckoutRequestID": "c",
            "ResponseCode": "0",
            "SomethingNew": {"x": 1},
        },
        StkPushResponse,
    )
    assert answer.checkout_request_id == "c"
    assert parse_c2b_payment(_payment(NewField="x")).trans_id == "SGA7RT61SV"


def test_c2b_numbers_and_nulls_become_text() -> None:
    payment = parse_c2b_payment(_payment(TransAmount=Decimal("1.00"), MSISDN=254708374149))
    assert payment.trans_amount == "1.00"
    assert payment.msisdn == "254708374149"
    assert payment.third_party_trans_id == ""


def test_c2b_missing_keys_are_empty_text() -> None:
    body = _payment()
    del body["MiddleName"]
    assert parse_c2b_payment(body).middle_name == ""


def test_register_answer_accepts_the_correct_spelling_too() -> None:
    from mpesa_daraja_kit.wire import C2BRegisterResponse

    answer = structure({"OriginatorConversationID": "x", "ResponseCode": "0"}, C2BRegisterResponse)
    assert answer.originator_conversation_id == "x"


def test_error_body_reads_camel_case() -> None:
    body = structure(
        b'{"requestId": "r", "errorCode": "400.002.02", "errorMessage": "Bad"}', DarajaErrorBody
    )
    assert (body.request_id, body.error_code, body.error_message) == ("r", "400.002.02", "Bad")


# -- C2B typed helpers ------------------------------------------------------------------


def test_c2b_amount_time_and_balance_are_typed() -> None:
    payment = parse_c2b_payment(_payment(OrgAccountBalance="49197.00"))
    assert payment.amount == Decimal("1.00")
    assert payment.transaction_time == datetime(2024, 7, 10, 7, 16, 3, tzinfo=UTC)
    assert payment.balance == Decimal("49197.00")
    assert parse_c2b_payment(_payment()).balance is None


@pytest.mark.parametrize(
    ("overrides", "field", "attribute"),
    [
        ({"TransAmount": "abc"}, "TransAmount", "amount"),
        ({"TransAmount": ""}, "TransAmount", "amount"),
        ({"TransTime": "2024-07-10"}, "TransTime", "transaction_time"),
        ({"TransTime": "20241301000000"}, "TransTime", "transaction_time"),
        ({"OrgAccountBalance": "lots"}, "OrgAccountBalance", "balance"),
    ],
)
def test_c2b_helpers_name_the_bad_field(
    overrides: dict[str, str], field: str, attribute: str
) -> None:
    payment = parse_c2b_payment(_payment(**overrides))  # structure alone never fails on text
    with pytest.raises(PayloadError) as caught:
        getattr(payment, attribute)
    assert caught.value.field == field
    assert field in caught.value.message


# -- failures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "cls", "field", "code"),
    [
        ({"access_token": "t"}, OAuthToken, "expires_in", ErrorCode.PAYLOAD_MISSING_FIELD),
        ({"access_token": "t", "expires_in": "soon"}, OAuthToken, "expires_in", None),
        ({"access_token": [], "expires_in": 1}, OAuthToken, "access_token", None),
        (
            {"MerchantRequestID": "m", "ResponseCode": "0"},
            StkPushResponse,
            "CheckoutRequestID",
            ErrorCode.PAYLOAD_MISSING_FIELD,
        ),
        (_payment(TransID={"a": 1}), C2BPayment, "TransID", None),
        (_payment(MSISDN=True), C2BPayment, "MSISDN", None),
    ],
)
def test_a_bad_value_is_one_payload_error_naming_the_wire_field(
    body: dict[str, Any], cls: type, field: str, code: ErrorCode | None
) -> None:
    with pytest.raises(PayloadError) as caught:
        structure(body, cls)
    assert caught.value.field == field
    assert field in caught.value.message
    if code is not None:
        assert caught.value.code is code


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Body": {}}, "Body.stkCallback"),
        ({"Nope": 1}, "Body"),
        (_callback(ResultCode=None), "Body.stkCallback.ResultCode"),
        (
            _callback(items=[{"Name": "Amount", "Value": "1.234"}]),
            "Body.stkCallback.CallbackMetadata.Amount",
        ),
        (
            _callback(items=[{"Name": "TransactionDate", "Value": 2024}]),
            "Body.stkCallback.CallbackMetadata.TransactionDate",
        ),
    ],
)
def test_bad_callbacks_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_stk_callback(body)
    assert caught.value.field == field


def test_missing_callback_checkout_id_is_a_missing_field() -> None:
    body = _callback()
    del body["Body"]["stkCallback"]["CheckoutRequestID"]
    with pytest.raises(PayloadError) as caught:
        parse_stk_callback(body)
    assert caught.value.code is ErrorCode.PAYLOAD_MISSING_FIELD


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b"[1, 2]", b"\xff\xfe", b""])
def test_not_a_json_object_is_payload_not_json(raw: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_c2b_payment(raw)
    assert caught.value.code is ErrorCode.PAYLOAD_NOT_JSON


# -- outbound strictness ----------------------------------------------------------------


def _push(**overrides: Any) -> StkPushRequest:
    values: dict[str, Any] = {
        "business_short_code": "174379",
        "password": "cGFzcw==",
        "timestamp": "20240710101526",
        "transaction_type": "CustomerPayBillOnline",
        "amount": 1,
        "party_a": "254708374149",
        "party_b": "174379",
        "phone_number": "254708374149",
        "callback_url": "https://insurer.example/cb",
        "account_reference": "POL1",
        "transaction_desc": "Premium",
    }
    values.update(overrides)
    return StkPushRequest(**values)


def test_outbound_uses_exactly_the_documented_keys() -> None:
    assert list(unstructure(_push())) == [
        "BusinessShortCode",
        "Password",
        "Timestamp",
        "TransactionType",
        "Amount",
        "PartyA",
        "PartyB",
        "PhoneNumber",
        "CallBackURL",
        "AccountReference",
        "TransactionDesc",
    ]
    assert unstructure(_push())["Amount"] == 1


@pytest.mark.parametrize("overrides", [{"amount": "1"}, {"amount": Decimal(1)}, {"party_a": 2547}])
def test_outbound_refuses_wrong_types(overrides: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        _push(**overrides)


def test_register_request_refuses_an_unknown_response_type() -> None:
    with pytest.raises(ValueError, match=r"response_type|ResponseType"):
        C2BRegisterRequest(
            short_code="600984",
            response_type="completed",
            confirmation_url="https://a.example/c",
            validation_url="https://a.example/v",
        )


def test_validation_answers() -> None:
    assert unstructure(C2BValidationAnswer.accept()) == {
        "ResultCode": "0",
        "ResultDesc": "Accepted",
    }
    assert unstructure(C2BValidationAnswer.accept("T1")) == {
        "ResultCode": "0",
        "ResultDesc": "Accepted",
        "ThirdPartyTransID": "T1",
    }
    rejection = C2BValidationAnswer.reject("C2B00012")
    assert not rejection.accepted
    assert unstructure(rejection) == {
        "ResultCode": "C2B00012",
        "ResultDesc": "Invalid Account Number",
    }
    with pytest.raises(ValueError, match="C2B00011"):
        C2BValidationAnswer.reject("C2B99999")


def test_confirmation_answer_has_a_numeric_code() -> None:
    assert unstructure(C2BConfirmationAnswer()) == {"ResultCode": 0, "ResultDesc": "Accepted"}


def test_callback_unstructures_to_the_wire_shape_and_back() -> None:
    callback = parse_stk_callback(_callback())
    again = parse_stk_callback(json.loads(json.dumps(unstructure(callback), default=str)))
    assert again == callback


def test_unstructure_refuses_non_wire_objects() -> None:
    with pytest.raises(TypeError):
        unstructure({"Amount": 1})


def test_every_wire_class_has_a_complete_name_table() -> None:
    import attrs

    for cls, names in WIRE_NAMES.items():
        if cls is StkCallback:
            continue  # nested; its metadata items are read by Name
        assert set(names) == {a.name for a in attrs.fields(cls)}, cls.__name__
