"""Text every database stores: the one cleaning applied to strings from outside.

PostgreSQL refuses a NUL character in text, and no database can store a lone
surrogate (``"\\ud800"`` is valid JSON but not a character UTF-8 can encode),
so one such character in a customer's name used to cost the whole payment.
:func:`storable_text` is applied where Daraja's JSON becomes wire objects
(``wire.primitives.text``), to statement rows, and once more to what the
callback log records about a callback; the raw body is kept as received.
"""

from __future__ import annotations

import re

__all__ = ["REPLACEMENT", "storable_text", "unstorable_problem"]

REPLACEMENT = "\ufffd"
"""What a lone surrogate becomes (U+FFFD REPLACEMENT CHARACTER)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(value: str) -> str:
    """Return ``value`` without NUL characters and with lone surrogates replaced by U+FFFD.

    Text without either (nearly all of it) is returned as is, after two C-speed checks.
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, value)
    return value


def unstorable_problem(value: str) -> str | None:
    """Return why ``value`` cannot be stored as it is (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "it contains a NUL character"
    if not value.isascii() and _SURROGATE.search(value) is not None:
        return "it contains a lone surrogate (not a character)"
    return None
