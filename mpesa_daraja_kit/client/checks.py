"""Checks on what the caller asks Daraja for, made before anything is sent.

Each check returns the value to send or raises an error that says what to
change (STYLE.md, habit 6). Daraja's own limits: a whole-shilling ``Amount``,
``TransactionDesc`` ≤ 13 characters, public http(s) callback URLs (https in
production) and, for C2B registration, none of Safaricom's banned words.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from mpesa_daraja_kit.config import C2BResponseType, Settings, banned_url_words
from mpesa_daraja_kit.errors import ConfigError, ErrorCode, InvalidAmount, ValidationError
from mpesa_daraja_kit.money import parse_amount, whole_shillings

__all__ = [
    "DEFAULT_TRANSACTION_DESC",
    "c2b_url",
    "check_url",
    "register_response_type",
    "register_version",
    "stk_amount",
    "transaction_desc",
    "whole_amount",
]

DEFAULT_TRANSACTION_DESC = "Payment"


def check_url(name: str, url: str, *, https: bool) -> str:
    """Return ``url`` trimmed if it is an absolute http(s) URL (https when ``https``)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"{name} {url[:80]!r} is not an absolute http(s) URL", field=name)
    if https and parts.scheme != "https":
        raise ValidationError(f"{name} must use https for Daraja production", field=name)
    return url


def whole_amount(amount: int | Decimal | str) -> int:
    """Return ``amount`` as a positive whole number of shillings."""
    value = parse_amount(amount, field="amount")
    assert value is not None
    whole = whole_shillings(value, field="amount")
    if whole < 1:
        raise InvalidAmount(f"amount {whole} must be at least 1 KES")
    return whole


def stk_amount(settings: Settings, amount: int | Decimal | str) -> int:
    """Return ``amount`` as whole shillings within the configured STK limits."""
    value = parse_amount(amount, field="amount")
    assert value is not None
    whole = whole_shillings(value, field="amount")
    if whole < settings.amount_min:
        raise InvalidAmount(
            f"amount {whole} is below the smallest STK amount, {settings.amount_min} KES "
            "(MPESA_AMOUNT_MIN)"
        )
    if whole > settings.amount_max:
        raise InvalidAmount(
            f"amount {whole} is above the largest STK amount, {settings.amount_max} KES "
            "(MPESA_AMOUNT_MAX)"
        )
    return whole


def transaction_desc(settings: Settings, value: str | None) -> str:
    """Return the ``TransactionDesc`` to send (``"Payment"`` when None)."""
    limit = settings.transaction_desc_max_length
    text = DEFAULT_TRANSACTION_DESC if value is None else value.strip()
    if not text:
        raise ValidationError(
            f"transaction description is empty; expected up to {limit} characters, e.g. 'Premium'",
            code=ErrorCode.INVALID_TRANSACTION_DESC,
        )
    if len(text) > limit:
        raise ValidationError(
            f"transaction description {text!r} has {len(text)} characters; M-Pesa Express "
            f"accepts at most {limit} (e.g. {text[:limit]!r})",
            code=ErrorCode.INVALID_TRANSACTION_DESC,
        )
    if not text.isprintable():
        raise ValidationError(
            "transaction description contains control characters; use plain text",
            code=ErrorCode.INVALID_TRANSACTION_DESC,
        )
    return text


def register_version(settings: Settings, version: str | None) -> str:
    """Return the C2B register API version to call: ``v1`` or ``v2``."""
    chosen = (version or settings.c2b_register_version).strip().lower()
    if chosen not in ("v1", "v2"):
        raise ValidationError(
            f"version {chosen!r} is not a C2B register API version; expected 'v1' or 'v2'",
            field="version",
        )
    return chosen


def register_response_type(settings: Settings, response_type: str | None) -> str:
    """Return ``Completed`` or ``Cancelled`` (any case accepted) as Daraja spells it."""
    kind = response_type if response_type is not None else settings.c2b_response_type.value
    for member in C2BResponseType:
        if member.value.lower() == kind.strip().lower():
            return member.value
    raise ValidationError(
        f"response_type {kind!r} is not 'Completed' or 'Cancelled'", field="response_type"
    )


def c2b_url(name: str, given: str | None, default: str, variable: str, *, https: bool) -> str:
    """Return a C2B URL to register: given or configured, absolute, free of banned words."""
    url = given if given is not None else default
    if not url:
        raise ConfigError(
            f"no {name}: pass {name}= or set MPESA_CALLBACK_BASE_URL (or MPESA_{variable})"
        )
    url = check_url(name, url, https=https)
    banned = banned_url_words(url)
    if banned:
        # Safaricom refuses these words anywhere in the URL, in any case (DARAJA.md, C2B).
        raise ValidationError(
            f"{name} {url!r} contains {', '.join(repr(w) for w in banned)}, which Safaricom "
            "refuses in C2B URLs; remove it (mount the public app under a neutral prefix)",
            field=name,
            words=banned,
        )
    return url
