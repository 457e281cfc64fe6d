"""docs/client.md keeps up with the error tree and the classifications."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpesa_daraja_kit.client import DarajaErrorKind
from mpesa_daraja_kit.client import errors as client_errors

PAGE = (Path(__file__).parents[2] / "docs" / "client.md").read_text()


@pytest.mark.parametrize("kind", list(DarajaErrorKind))
def test_every_classification_has_a_row_saying_what_to_do(kind: DarajaErrorKind) -> None:
    assert f"| `{kind.value}` |" in PAGE


ERROR_CLASSES = [
    name
    for name in client_errors.__all__
    if isinstance(getattr(client_errors, name), type)
    and issubclass(getattr(client_errors, name), Exception)
]


@pytest.mark.parametrize("name", ERROR_CLASSES)
def test_every_error_class_is_documented(name: str) -> None:
    assert name in PAGE


def test_both_twins_are_shown_calling_push_and_query() -> None:
    assert "await daraja.stk_push(" in PAGE
    assert "await daraja.stk_query(" in PAGE
    assert "with DarajaClient(" in PAGE
    assert "daraja.stk_query(push.checkout_request_id)" in PAGE
