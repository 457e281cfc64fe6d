"""A missing optional extra is reported by name, and never breaks an unrelated import."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.errors import ErrorCode, MissingDependency, require
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.statements import open_statement
from tests.statements.generator import StatementSpec, write_family_a_xls, write_family_a_xlsx
from tests.support import API_KEY, HostPlugin, kit_settings, make_kit

EXTRA = "pip install 'mpesa_daraja_kit[statements]'"


@pytest.fixture
def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    write_family_a_xlsx(StatementSpec(rows=5), buffer)
    return buffer.getvalue()


@pytest.fixture
def xls_bytes() -> bytes:
    buffer = io.BytesIO()
    write_family_a_xls(StatementSpec(rows=5), buffer)
    return buffer.getvalue()


@pytest.fixture
def without_calamine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "python_calamine", None)


@pytest.fixture
async def kit(engine: AsyncEngine) -> AsyncIterator[MpesaKit]:
    kit = make_kit(engine, kit_settings("http://127.0.0.1:9"), HostPlugin())
    yield kit
    await kit.client.aclose()


def test_require_returns_an_installed_module() -> None:
    assert require("json", "none").dumps([1]) == "[1]"


def test_require_names_the_module_and_the_extra(without_calamine: None) -> None:
    with pytest.raises(MissingDependency) as raised:
        require("python_calamine", "statements")
    assert raised.value.code is ErrorCode.MISSING_DEPENDENCY
    assert "python_calamine" in raised.value.message
    assert EXTRA in raised.value.message
    assert raised.value.to_dict()["extra"] == "statements"
    assert isinstance(raised.value, ImportError)


def test_require_does_not_hide_a_broken_install_below(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module is installed but one of *its* imports is missing: not the extra's fault.
    (tmp_path / "kit_probe_installed.py").write_text("import kit_probe_absent_below\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kit_probe_installed", raising=False)
    with pytest.raises(ModuleNotFoundError) as raised:
        require("kit_probe_installed", "statements")
    assert not isinstance(raised.value, MissingDependency)
    assert raised.value.name == "kit_probe_absent_below"


def test_opening_an_xls_without_calamine(
    xls_bytes: bytes, tmp_path: Path, without_calamine: None
) -> None:
    path = tmp_path / "statement.xls"
    path.write_bytes(xls_bytes)
    with pytest.raises(MissingDependency) as raised:
        open_statement(path)
    assert EXTRA in str(raised.value)
    assert "XLS" in str(raised.value)


def test_xlsx_needs_no_extra(xlsx_bytes: bytes, without_calamine: None) -> None:
    # XLSX is read row by row by the kit itself; only XLS (and XLSB) need python-calamine.
    with open_statement(xlsx_bytes) as statement:
        assert sum(1 for _ in statement.rows()) == 5


async def test_importing_an_xls_without_calamine(
    kit: MpesaKit, xls_bytes: bytes, tmp_path: Path, without_calamine: None
) -> None:
    path = tmp_path / "x.xls"
    path.write_bytes(xls_bytes)
    with pytest.raises(MissingDependency) as raised:
        await kit.statements.import_file(str(path))
    assert EXTRA in raised.value.message


async def test_csv_needs_no_extra(kit: MpesaKit, without_calamine: None) -> None:
    from tests.statements.generator import write_family_a_csv

    buffer = io.BytesIO()
    write_family_a_csv(StatementSpec(rows=5), buffer)
    report = await kit.statements.import_file(buffer.getvalue(), filename="s.csv")
    assert report.total_statement_items == 5


async def test_xls_upload_without_calamine_answers_501(
    kit: MpesaKit, xls_bytes: bytes, without_calamine: None
) -> None:
    transport = httpx.ASGITransport(app=kit.internal_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        response = await http.post(
            "/statements",
            files={"file": ("s.xls", xls_bytes, "application/octet-stream")},
            headers={"X-API-Key": API_KEY},
        )
    assert response.status_code == 501, response.text
    error = response.json()["error"]
    assert error["code"] == "missing_dependency"
    assert error["extra"] == "statements"
    assert EXTRA in error["message"]


def test_testing_helpers_import_without_uvicorn() -> None:
    code = (
        "import sys\n"
        "sys.modules['uvicorn'] = None\n"
        "import mpesa_daraja_kit.testing as testing\n"
        "from mpesa_daraja_kit.errors import MissingDependency\n"
        "try:\n"
        "    with testing.serve_app(object()):\n"
        "        pass\n"
        "except MissingDependency as exc:\n"
        '    assert "mpesa_daraja_kit[cli]" in exc.message, exc.message\n'
        "else:\n"
        "    raise SystemExit('serve_app served without uvicorn')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
