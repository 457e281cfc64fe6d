"""Money as :class:`~decimal.Decimal`, parsed exactly from every form Daraja uses.

Daraja sends amounts as ``"1.00"`` (C2B), ``1``, ``1.0`` or ``1.00`` (STK
callback ``Amount``) and ``"250000"``; JSON numbers must be parsed with
``parse_float=Decimal`` upstream, and a float that still arrives is converted
from its shortest ``repr`` — never through float arithmetic.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mpesa_daraja_kit.errors import InvalidAmount

__all__ = ["CENT", "MAX_AMOUNT", "format_amount", "parse_amount", "whole_shillings"]

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
"""The largest amount a ``Numeric(12, 2)`` money column holds (PostgreSQL refuses more)."""


def parse_amount(
    value: object,
    *,
    field: str = "amount",
    allow_negative: bool = False,
    allow_blank: bool = False,
) -> Decimal | None:
    """Return ``value`` as a Decimal with two decimal places.

    Args:
        value: ``str``, ``int``, ``Decimal`` or ``float`` (converted from its repr).
        field: the name used in error messages.
        allow_negative: accept amounts below zero (statement ``Withdrawn``).
        allow_blank: return None for ``None`` / ``""`` instead of raising.

    Raises:
        InvalidAmount: for anything that is not an exact amount in cents.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_blank:
            return None
        raise InvalidAmount(f"{field} is missing; expected an amount such as '100.00'")
    if isinstance(value, bool):
        raise InvalidAmount(f"{field} {value!r} is not an amount")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount(
                f"{field} {value!r} is not a number; expected an amount such as '100.00'"
            ) from None
    else:
        raise InvalidAmount(f"{field} must be a number or text, got {type(value).__name__}")
    if not amount.is_finite():
        raise InvalidAmount(f"{field} {value!r} is not a finite amount")
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation:  # more digits than Decimal's precision (found by tests/fuzz)
        raise InvalidAmount(f"{field} {str(value)[:40]!r} is too large to be an amount") from None
    if amount != cents:
        raise InvalidAmount(f"{field} {value!r} has more than two decimal places")
    if amount < 0 and not allow_negative:
        raise InvalidAmount(f"{field} {value!r} is negative")
    if abs(cents) > MAX_AMOUNT:
        raise InvalidAmount(
            f"{field} {str(value)[:40]!r} is larger than the largest amount the kit stores "
            f"({MAX_AMOUNT})"
        )
    return cents


def whole_shillings(amount: Decimal, *, field: str = "amount") -> int:
    """Return ``amount`` as an int, refusing cents (Daraja's STK ``Amount`` is whole KES)."""
    if amount != amount.to_integral_value():
        raise InvalidAmount(
            f"{field} {amount} has cents; M-Pesa Express takes whole shillings (e.g. {int(amount)})"
        )
    return int(amount)


def format_amount(amount: Decimal) -> str:
    """Return ``amount`` as Daraja writes it in C2B payloads: ``"1500.00"``."""
    return f"{amount.quantize(CENT):f}"
