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

Database errors are rendered by :func:`describe_error` — never with the
values a driver quotes in its message (asyncpg's ``invalid input for query
argument $3: 'JOHN DOE'``), its ``DETAIL`` or SQLAlchemy's ``[parameters: …]``
— wherever the kit stores or logs one; the filter also rewrites the traceback
of a logged exception whose chain holds a database error (frames and
described errors only; ``exc_info`` is dropped so no handler can format the
raw exception again). This holds even with PII logging on.

Secrets registered with :func:`register_secret` (the callback path secret) are
replaced by ``***`` in the kit's records and in those of ``httpx`` (which logs
every request URL at INFO, the simulator's callback deliveries included) and
of ``uvicorn.access``/``uvicorn.error`` when the server runs in this process.

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
import traceback
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
    "SecretFilter",
    "bind_correlation_id",
    "configure_logging",
    "correlation_id_var",
    "describe_error",
    "get_logger",
    "pii_logging_enabled",
    "redact_payload",
    "redact_text",
    "register_secret",
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


# -- database errors, without their values ---------------------------------------------

# Where database exceptions come from: SQLAlchemy and the drivers the kit supports.
_DB_MODULES = ("sqlalchemy", "asyncpg", "asyncmy", "pymysql", "aiosqlite", "sqlite3", "psycopg")
# A quoted fragment ('…', "…", `…`), kept only when it names a schema object.
_QUOTED = re.compile(
    r"""(?P<kw>\b(?:column|constraint|key|table|relation|index|type)\s+)?"""
    r"""(?P<q>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)""",
    re.IGNORECASE,
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]{0,62}")


def _is_db_error(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.split(".", 1)[0] in _DB_MODULES or hasattr(exc, "orig")


def _chain(exc: BaseException) -> list[BaseException]:
    """Return ``exc`` and the exceptions it was raised from or during, newest first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _strip_quoted(text: str) -> str:
    """Remove quoted fragments (values), keeping quoted identifiers after ``column`` & co."""

    def keep(match: re.Match[str]) -> str:
        inner = match.group("q")[1:-1]
        if match.group("kw") and _IDENTIFIER.fullmatch(inner):
            return match.group(0)
        return (match.group("kw") or "") + "…"

    return _QUOTED.sub(keep, text)


def _driver_message(error: BaseException) -> tuple[str, str | None]:
    """Return a driver error's first message line and its code (a MySQL errno)."""
    args = error.args
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return args[1], str(args[0])  # MySQL drivers: (errno, message)
    return (str(args[0]) if args else ""), None


def describe_error(exc: BaseException) -> str:
    """Return one line about ``exc`` that is safe to log and store.

    A database error (SQLAlchemy's or a driver's) becomes ``Class (Driver, sqlstate
    S, constraint C, column N): message`` from a whitelist: the class names, the
    SQLSTATE or driver error code, the constraint/column/table names the driver
    reports, and the first line of the driver's message with every quoted fragment
    removed (a quoted identifier after ``column``/``constraint``/``key`` stays).
    Never the ``DETAIL``, the statement or its parameters. Any other exception is
    ``Class: message`` as before.
    """
    chain = _chain(exc)
    if not any(_is_db_error(e) for e in chain):
        return f"{type(exc).__name__}: {exc}"
    driver = getattr(exc, "orig", None) or (chain[-1] if len(chain) > 1 else exc)
    sources = [*chain, driver]
    names = list(dict.fromkeys(type(e).__name__ for e in (exc, driver, chain[-1])))
    message, errno = _driver_message(driver)
    facts = names[1:]
    code = _first_attribute(sources, ("sqlstate", "pgcode")) or errno
    if code:
        facts.append(f"code {code}" if code.isdigit() else f"sqlstate {code}")
    for attribute in ("constraint_name", "column_name", "table_name"):
        value = _first_attribute(sources, (attribute,))
        if value and _IDENTIFIER.fullmatch(value):
            facts.append(f"{attribute.removesuffix('_name')} {value}")
    line = _safe_message(message)
    head = f"{names[0]} ({', '.join(facts)})" if facts else names[0]
    return f"{head}: {line}" if line else head


def _first_attribute(errors: list[BaseException], attributes: tuple[str, ...]) -> str | None:
    """Return the first non-empty ``attributes`` value found on ``errors``, as text."""
    for error in errors:
        for attribute in attributes:
            value = getattr(error, attribute, None)
            if value:
                return str(value)
    return None


def _safe_message(message: str) -> str:
    """Return a driver message's first line, before any DETAIL, without quoted values."""
    lines = message.strip().splitlines()
    return _strip_quoted(lines[0].split("DETAIL:", 1)[0]).strip()[:300] if lines else ""


def _safe_traceback(exc: BaseException) -> str:
    """Return the traceback of ``exc``'s chain: frames and described errors, no messages."""
    parts = []
    for error in reversed(_chain(exc)):
        frames = "".join(traceback.format_tb(error.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{_describe_one(error)}")
    return "\n\nwhich led to:\n\n".join(parts)


def _describe_one(error: BaseException) -> str:
    if _is_db_error(error):
        driver = getattr(error, "orig", None) or error
        message, errno = _driver_message(driver)
        code = _first_attribute([driver], ("sqlstate", "pgcode")) or errno
        line = _safe_message(message)
        name = f"{type(error).__module__}.{type(error).__qualname__}"
        return f"{name}{f' ({code})' if code else ''}: {line}"
    return "".join(traceback.format_exception_only(type(error), error)).rstrip()


def _sanitize_db_exception(record: logging.LogRecord) -> None:
    """Replace a logged database exception by its safe traceback (``exc_info`` dropped)."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None and any(_is_db_error(e) for e in _chain(exc)):
        record.exc_text = _safe_traceback(exc)
        record.exc_info = None


# -- secrets ------------------------------------------------------------------------------

_secrets: set[str] = set()
# Third-party loggers that write URLs: the HTTP client and, in-process, the server.
_URL_LOGGERS = ("httpx", "uvicorn.access", "uvicorn.error")


def register_secret(secret: str) -> None:
    """Keep ``secret`` (e.g. the callback path secret) out of every record the filters see."""
    if len(secret) >= 8:
        _secrets.add(secret)
        for name in _URL_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, SecretFilter) for f in logger.filters):
                logger.addFilter(SecretFilter())


def _hide_secrets(value: Any) -> Any:
    if not _secrets or isinstance(value, int | float | bool) or value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    if not any(secret in text for secret in _secrets):
        return value
    for secret in _secrets:
        text = text.replace(secret, _HIDDEN)
    return text


class SecretFilter(logging.Filter):
    """Replace registered secrets in a record's message, arguments and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place (arguments keep their positions); never drops it."""
        if not _secrets:
            return True
        record.msg = _hide_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_hide_secrets(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _hide_secrets(v) for k, v in record.args.items()}
        if record.exc_text:
            record.exc_text = _hide_secrets(record.exc_text)
        return True


class KitLogFilter(logging.Filter):
    """Add the correlation id; mask phone numbers and hide names unless PII logging is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate (and redact) ``record`` in place; never drops a record."""
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id_var.get()
        _sanitize_db_exception(record)
        SecretFilter().filter(record)
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
        if record.exc_text:
            data["exc_info"] = record.exc_text
        elif record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)
