"""The package's public face stays honest, and importing it stays cheap."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mpesa_daraja_kit

HEAVY = ("alembic", "sqlalchemy.orm", "starlette", "httpx", "mpesa_daraja_kit.kit")


def test_all_names_exist_and_are_unique() -> None:
    names = mpesa_daraja_kit.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(mpesa_daraja_kit, name) is not None, name
    assert set(dir(mpesa_daraja_kit)) >= set(names)


def test_every_lazy_name_is_listed_and_typed() -> None:
    # _EXPORTS is what __getattr__ serves; the TYPE_CHECKING imports are what type
    # checkers and editors see. Both must name exactly __all__.
    exported = set(mpesa_daraja_kit._EXPORTS)
    assert exported | {"__version__"} == set(mpesa_daraja_kit.__all__)
    tree = ast.parse(Path(mpesa_daraja_kit.__file__).read_text())
    (guard,) = [node for node in tree.body if isinstance(node, ast.If)]
    typed = {
        (node.module, alias.asname or alias.name)
        for node in guard.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == {(module, name) for name, module in mpesa_daraja_kit._EXPORTS.items()}


def test_all_is_sorted_as_the_linter_sorts_it() -> None:
    names = list(mpesa_daraja_kit.__all__)
    constants_first = sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    assert names == constants_first


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        mpesa_daraja_kit.no_such_thing  # noqa: B018


@pytest.mark.parametrize("module", ["mpesa_daraja_kit", "mpesa_daraja_kit.clock"])
def test_importing_the_package_or_a_base_module_stays_light(module: str) -> None:
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert loaded == []


def test_the_documented_embedding_import_works_in_a_fresh_interpreter() -> None:
    code = "from mpesa_daraja_kit import MpesaKit, Settings, hookimpl; print(MpesaKit.__name__)"
    out = subprocess.check_output([sys.executable, "-c", code], text=True)
    assert out.strip() == "MpesaKit"
