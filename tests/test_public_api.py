"""The package's public face stays honest."""

from __future__ import annotations

import ast
from pathlib import Path

import mpesa_daraja_kit


def test_all_names_exist_and_are_unique() -> None:
    names = mpesa_daraja_kit.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(mpesa_daraja_kit, name), name


def test_every_public_import_is_listed_in_all() -> None:
    tree = ast.parse(Path(mpesa_daraja_kit.__file__).read_text())
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
    }
    assert imported - set(mpesa_daraja_kit.__all__) == set()


def test_all_is_sorted() -> None:
    assert list(mpesa_daraja_kit.__all__) == sorted(mpesa_daraja_kit.__all__)
