"""Structured, redacting logs: a correlation id on every record, no phone numbers or names.

The kit's loggers live under ``mpesa_daraja_kit.*`` (``mpesa_daraja_kit.c2b``,
``mpesa_daraja_kit.stk`` …). Each carries :class:`KitLogFilter`, which

- adds ``record.correlation_id`` from :data:`correlation_id_var` (set for the
  duration of one callback: the caller's ``X-Correlation-ID`` or a new one);
- unless PII logging is on (``Settings.log_pii``), rewrites the message and the
  ``extra`` values so that Kenyan numbers (``2547…``/``2541…``/``07…``) are masked
  (``2547******49``) and known name fields (``first_name``, ``payer_name`` …)
  are hidden. Logs redact phone numbers and names by default
  (docs/architecture.md#personal-data-in-logs).

The filter sits on the loggers themselves, so the record is redacted before
any handler (the host's included) sees it. Hosts that want one JSON object
per line attach :class:`JsonFormatter` to their handler::

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.getLogger("mpesa_daraja_kit").addHandler(handler)
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from mpesa_daraja_kit.phone import mask_msisdn

__all__ = [
    "LOGGER_NAME",
    "NAME_KEYS",
    "PHONE_KEYS",
    "JsonFormatter",
    "KitLogFilter",
    "bind_correlation_id",
    "configure_logging",
    "correlation_id_var",
    "get_logger",
    "pii_logging_enabled",
    "redact_payload",
    "redact_text",
]

LOGGER_NAME = "mpesa_daraja_kit"

correlation_id_var: ContextVar[str | None] = ContextVar("mpesa_correlation_id", default=None)
"""The correlation id of the callback (or command) being handled, if any."""

# 2547XXXXXXXX / 2541XXXXXXXX (optionally "+"), or the local 07…/01… form, not inside a
# longer run of digits (a receipt or an amount must not be mistaken for a phone number).
_PHONE = re.compile(r"(?<![\d*])(?:\+?254|0)[17]\d{8}(?!\d)")
NAME_KEYS = frozenset(
    {
        "first_name",
        "middle_name",
        "last_name",
        "names",
        "payer_name",
        "customer_name",
        "display_name",
        "firstname",
        "middlename",
        "lastname",
    }
)
PHONE_KEYS = frozenset({"msisdn", "phone", "phone_number", "partya"})
_HIDDEN = "***"


def _fold(key: str | None) -> str:
    return (key or "").replace("_", "").lower()


_NAME_FOLDED = frozenset(_fold(k) for k in NAME_KEYS)
_PHONE_FOLDED = frozenset(_fold(k) for k in PHONE_KEYS)

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "correlation_id", "taskName"}
)


class _State:
    log_pii = False


_state = _State()


def configure_logging(*, log_pii: bool = False) -> None:
    """Switch PII logging on or off for the whole process and filter every kit logger.

    ``MpesaKit`` calls this with ``Settings.log_pii``; the last kit built wins
    (PII logging is a process-wide decision, like the handlers themselves).
    """
    _state.log_pii = log_pii
    for name in list(logging.Logger.manager.loggerDict):
        if name == LOGGER_NAME or name.startswith(LOGGER_NAME + "."):
            _attach(logging.getLogger(name))


def pii_logging_enabled() -> bool:
    """Tell whether phone numbers and names may appear in logs."""
    return _state.log_pii


def get_logger(name: str) -> logging.Logger:
    """Return the kit logger ``mpesa_daraja_kit.<name>`` with the redacting filter attached."""
    full = name if name.startswith(LOGGER_NAME) else f"{LOGGER_NAME}.{name}"
    return _attach(logging.getLogger(full))


def _attach(logger: logging.Logger) -> logging.Logger:
    if not any(isinstance(f, KitLogFilter) for f in logger.filters):
        logger.addFilter(KitLogFilter())
    return logger


@contextlib.contextmanager
def bind_correlation_id(correlation_id: str | None) -> Iterator[str | None]:
    """Make ``correlation_id`` the current one inside the ``with`` block."""
    token = correlation_id_var.set(correlation_id)
    try:
        yield correlation_id
    finally:
        correlation_id_var.reset(token)


def redact_text(text: str) -> str:
    """Return ``text`` with every Kenyan mobile number masked."""
    return _PHONE.sub(lambda m: mask_msisdn(m.group(0)), text)


def redact_payload(value: Any, key: str | None = None) -> Any:
    """Return a copy of decoded JSON with phone numbers masked and name fields hidden.

    Keys are compared case-insensitively (``MSISDN``, ``FirstName``); an STK
    metadata item ``{"Name": "PhoneNumber", "Value": …}`` has its value masked.
    """
    folded = _fold(key)
    if isinstance(value, Mapping):
        item_name = _fold(str(value.get("Name", "")))
        out = {}
        for k, v in value.items():
            if k == "Value" and item_name in _PHONE_FOLDED:
                out[k] = mask_msisdn(str(v)) if v is not None else v
            else:
                out[k] = redact_payload(v, str(k))
        return out
    if isinstance(value, list):
        return [redact_payload(v, key) for v in value]
    if folded in _NAME_FOLDED:
        return _HIDDEN if value else value
    if folded in _PHONE_FOLDED and value not in (None, ""):
        return mask_msisdn(str(value))
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return redact_text(str(value)) if _PHONE.fullmatch(str(value)) else value
    return value


class KitLogFilter(logging.Filter):
    """Add the correlation id; mask phone numbers and hide names unless PII logging is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate (and redact) ``record`` in place; never drops a record."""
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id_var.get()
        if _state.log_pii:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler's handleError
            return True
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # A traceback can quote values (a phone in an error message): redact it too.
            # Handlers use exc_text when it is set, so the raw text is never written.
            record.exc_text = redact_text(_TRACEBACKS.formatException(record.exc_info))
        for attr, value in list(record.__dict__.items()):
            if attr not in _RECORD_ATTRS:
                record.__dict__[attr] = redact_payload(value, attr)
        return True


_TRACEBACKS = logging.Formatter()


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, correlation id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single line of JSON."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None) or correlation_id_var.get(),
        }
        for attr, value in record.__dict__.items():
            if attr not in _RECORD_ATTRS:
                data[attr] = value
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)
