"""Documentation that must keep up with the code."""

from __future__ import annotations

import inspect
from pathlib import Path

from mpesa_daraja_kit import hookspecs

DOCS = Path(__file__).parents[1] / "docs"


def test_every_hook_is_documented() -> None:
    page = (DOCS / "hooks.md").read_text()
    hooks = [
        name
        for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("mpesa_")
    ]
    assert len(hooks) >= 9
    for name in hooks:
        assert f"### `{name}`" in page, f"docs/hooks.md lacks a section for {name}"


def test_every_hook_spec_has_a_docstring() -> None:
    for name, obj in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("mpesa_"):
            assert (obj.__doc__ or "").strip(), name
