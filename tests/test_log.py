"""The kit's logs: correlation ids on every record, phone numbers and names redacted by default."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from mpesa_daraja_kit.log import (
    JsonFormatter,
    KitLogFilter,
    bind_correlation_id,
    configure_logging,
    correlation_id_var,
    get_logger,
    redact_payload,
    redact_text,
)


@pytest.fixture(autouse=True)
def pii_off() -> Iterator[None]:
    configure_logging(log_pii=False)
    yield
    configure_logging(log_pii=False)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.INFO, logger="mpesa_daraja_kit")
    return get_logger("test_log")


def test_phone_numbers_in_message_and_args_are_masked(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    log.info("paid by %s and +254112345678, receipt SGA7RT61SV", "254708374149")
    (record,) = caplog.records
    assert record.getMessage() == "paid by 2547******49 and +254*******78, receipt SGA7RT61SV"


def test_names_and_phone_extras_are_hidden(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    log.info(
        "confirmation",
        extra={
            "first_name": "JOHN",
            "payer_name": "JOHN DOE",
            "msisdn": "254708374149",
            "note": "call 0708374149 or 254708374149",
            "amount": "1.00",
        },
    )
    (record,) = caplog.records
    assert record.first_name == record.payer_name == "***"
    assert record.msisdn == "2547******49"
    assert record.note == "call 0708****49 or 2547******49"
    assert record.amount == "1.00"


def test_pii_logging_when_enabled(log: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    configure_logging(log_pii=True)
    log.info("paid by %s", "254708374149", extra={"first_name": "JOHN"})
    (record,) = caplog.records
    assert record.getMessage() == "paid by 254708374149"
    assert record.first_name == "JOHN"


def test_correlation_id_is_added_and_reset(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with bind_correlation_id("corr-1"):
        log.info("inside")
    log.info("outside")
    inside, outside = caplog.records
    assert inside.correlation_id == "corr-1"
    assert outside.correlation_id is None
    assert correlation_id_var.get() is None


def test_json_formatter_writes_one_object_per_record(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with bind_correlation_id("corr-2"):
        log.warning("kept for replay", extra={"callback_log_id": 7, "msisdn": "254708374149"})
    data = json.loads(JsonFormatter().format(caplog.records[0]))
    assert data["message"] == "kept for replay"
    assert data["level"] == "WARNING"
    assert data["logger"] == "mpesa_daraja_kit.test_log"
    assert data["correlation_id"] == "corr-2"
    assert data["callback_log_id"] == 7
    assert data["msisdn"] == "2547******49"
    assert data["time"].endswith("+00:00")


def test_every_kit_logger_gets_the_filter_once() -> None:
    existing = logging.getLogger("mpesa_daraja_kit.some_module_logger")
    configure_logging()
    configure_logging()
    assert sum(isinstance(f, KitLogFilter) for f in existing.filters) == 1
    assert get_logger("mpesa_daraja_kit.some_module_logger") is existing
    assert sum(isinstance(f, KitLogFilter) for f in existing.filters) == 1


def test_redact_payload_walks_daraja_bodies() -> None:
    stk = {"Item": [{"Name": "PhoneNumber", "Value": 254708374149}, {"Name": "Amount", "Value": 1}]}
    assert redact_payload(stk) == {
        "Item": [{"Name": "PhoneNumber", "Value": "2547******49"}, {"Name": "Amount", "Value": 1}]
    }
    c2b = {"MSISDN": "254722000111", "FirstName": "MARY", "MiddleName": "", "TransID": "X"}
    assert redact_payload(c2b) == {
        "MSISDN": "2547******11",
        "FirstName": "***",
        "MiddleName": "",
        "TransID": "X",
    }
    hashed = "bbff37cea44ac0b2d964ee0dfb8d2df8513dc7ba1b36129a929fc3fbd6dd4af4"
    assert redact_payload({"MSISDN": hashed}) == {"MSISDN": "sha256:bbff37ce…"}
    assert redact_text("amount 2547081234567890") == "amount 2547081234567890"  # not a phone


def test_a_bad_format_string_never_raises_from_the_filter() -> None:
    record = logging.LogRecord("mpesa_daraja_kit.x", logging.INFO, "", 0, "%s %s", ("one",), None)
    assert KitLogFilter().filter(record)  # the handler's handleError reports it, not the filter


def test_phone_numbers_in_tracebacks_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = get_logger("test.traceback")
    try:
        raise ValueError("no such subscriber 254708374149")
    except ValueError:
        logger.exception("lookup failed")
    (record,) = [r for r in caplog.records if r.name.endswith("test.traceback")]
    text = logging.Formatter().format(record)
    assert "254708374149" not in text
    assert "ValueError" in text
