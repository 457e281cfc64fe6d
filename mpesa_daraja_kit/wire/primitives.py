"""Tolerant readers for Daraja values: text where numbers come, numbers where text comes.

Daraja sends ``"expires_in": "3599"`` and ``"ResultCode": 0`` alike (DARAJA.md);
these hooks accept both forms and raise ``ValueError`` with the problem, which
the converter turns into a :class:`PayloadError` naming the wire field.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mpesa_daraja_kit.text import storable_text, unstorable_problem

__all__ = [
    "decimal_number",
    "receipt_text",
    "receipt_text_or_empty",
    "text",
    "text_or_empty",
    "whole_number",
]


def _is_number(value: object) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def _number_text(value: int | Decimal | float) -> str:
    # Decimal keeps the digits as sent: 1.00 stays "1.00" (parse_float=Decimal upstream).
    return repr(value) if isinstance(value, float) else str(value)


def text(value: object, _: object = None) -> str:
    """Return a text value cleaned for storage (``mpesa_daraja_kit.text.storable_text``)."""
    if isinstance(value, str):
        return storable_text(value)
    if _is_number(value):
        return _number_text(value)  # type: ignore[arg-type]
    if value is None:
        raise ValueError("is null; expected text")
    raise ValueError(f"is {type(value).__name__}; expected text")


def text_or_empty(value: object, _: object = None) -> str:
    # C2B bodies send ``null`` for ThirdPartyTransID / InvoiceNumber (DARAJA.md, C2B).
    return "" if value is None else text(value)


def receipt_text(value: object, _: object = None) -> str:
    """Return a receipt as text; one with a NUL or a lone surrogate is not a receipt.

    Other text is cleaned, but a receipt is an identity: removing a character
    from it would make a different receipt, so it is refused instead.
    """
    if isinstance(value, str):
        problem = unstorable_problem(value)
        if problem is not None:
            raise ValueError(f"{_show(value)} is not an M-Pesa receipt: {problem}")
    return text(value)


def receipt_text_or_empty(value: object, _: object = None) -> str:
    return "" if value is None else receipt_text(value)


def whole_number(value: object, _: object = None) -> int:
    if isinstance(value, bool):
        raise ValueError("is a boolean; expected a whole number")
    if isinstance(value, int):
        return value
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{_show(value)} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{_show(value)} is not a whole number")
    return int(number)


def decimal_number(value: object, _: object = None) -> Decimal:
    if isinstance(value, bool) or not (_is_number(value) or isinstance(value, str)):
        raise ValueError(f"is {type(value).__name__}; expected a number")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{_show(value)} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{_show(value)} is not a finite number")
    return number


def _show(value: object) -> str:
    return repr(value)[:40]
