"""Every ``python`` block in README.md and docs/*.md runs, against the simulator.

Each block runs in a fresh namespace, in a temporary working directory, with
``MPESA_*`` pointing at a served simulator (so ``Settings.from_env()`` works as the
docs say) and at a receiver that accepts its callbacks. A block that needs
something a reader would already have (a kit, a Daraja client, a statement file)
names it in a ``<!-- snippet: setup=… -->`` comment; the setups below say exactly
what each provides. A block that cannot run here says ``compile-only: why``; it
is compiled and its imports are resolved.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import inspect
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mpesa_daraja_kit import Account, MpesaKit, Settings, hookimpl, migrate
from mpesa_daraja_kit.client import AsyncDarajaClient
from mpesa_daraja_kit.simulator import SimulatorConfig
from mpesa_daraja_kit.testing import RunningSimulator, run_simulator, serve_app
from tests.docs.snippets import Block, python_blocks

FIXTURES = Path(__file__).parents[1] / "fixtures"
STATEMENT_CSV = FIXTURES / "statements" / "ORG_600123_Utility Account_Completed_20251005080113.csv"
CONFIRMATION = FIXTURES / "daraja" / "c2b_confirmation_plain_msisdn.json"


# -- the world every block runs in ------------------------------------------------


async def _accept(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"ResultCode": 0, "ResultDesc": "Accepted"})


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    """Somewhere for the simulator's callbacks to land (the blocks' kits are not served)."""
    app = Starlette(routes=[Route("/{path:path}", _accept, methods=["POST"])])
    with serve_app(app) as url:
        yield url


@pytest.fixture(scope="module")
def simulator(receiver: str) -> Iterator[RunningSimulator]:
    with run_simulator(Settings.for_simulator(), SimulatorConfig(callback_delay=0.2)) as running:
        yield running


@pytest.fixture
def world(
    simulator: RunningSimulator, receiver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    for name in [n for n in __import__("os").environ if n.startswith("MPESA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MPESA_ENVIRONMENT", "simulator")
    monkeypatch.setenv("MPESA_BASE_URL", simulator.base_url)
    monkeypatch.setenv("MPESA_CALLBACK_BASE_URL", f"{receiver}/hooks/daraja")
    monkeypatch.setenv("MPESA_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.chdir(tmp_path)
    simulator.simulator.reset()  # no prompt of an earlier block still open on the phone
    return tmp_path


# -- setups: what a block may assume, by name -------------------------------------


class DocsPlugin:
    """The least a host implements: who is calling, and which policy a reference is."""

    @hookimpl
    async def mpesa_authenticate(self, request: Any) -> str | None:
        return "agent-7"

    @hookimpl
    async def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        return Account(reference=account_reference, account_id=f"policy-{account_reference}")


def _kit(cwd: Path) -> dict[str, Any]:
    """``kit``: an MpesaKit on a migrated SQLite file, talking to the simulator."""
    url = f"sqlite+aiosqlite:///{cwd}/kit.db"
    asyncio.run(migrate(url))
    return {"kit": MpesaKit(Settings.from_env(), database_url=url, plugins=[DocsPlugin()])}


def _plugin(cwd: Path) -> dict[str, Any]:
    """``InsurerPlugin``: the host's plugin class (docs/hooks.md shows a full one)."""
    return {"InsurerPlugin": DocsPlugin}


def _stored_callback(cwd: Path) -> dict[str, Any]:
    """``callback_id``: a C2B confirmation the kit's public app stored (needs ``kit``)."""
    return {"_after_kit": _post_confirmation}


async def _post_confirmation(ns: dict[str, Any]) -> None:
    kit: MpesaKit = ns["kit"]
    transport = httpx.ASGITransport(app=kit.public_app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        response = await http.post(
            "/confirmation",
            content=CONFIRMATION.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
    (record,) = await kit.callbacks.list()
    ns["callback_id"] = record.id


def _daraja(cwd: Path) -> dict[str, Any]:
    """``daraja`` (an AsyncDarajaClient on the simulator), the names the example uses."""
    calls: list[Any] = []
    return {
        "_async_daraja": True,
        "phone": "0708374149",
        "amount": 1500,
        "policy_number": "POL0012345",
        "record_unknown": lambda *args: calls.append(args),
        "log": logging.getLogger("docs.example"),
    }


def _host_stores(cwd: Path) -> dict[str, Any]:
    """``sessions``, ``policies``, ``premiums`` and ``settings``: the host's own pieces."""

    class Store:
        def __init__(self, **methods: Callable[..., Any]) -> None:
            for name, method in methods.items():
                setattr(self, name, method)

    async def user_for(authorization: str | None) -> Any:
        return None

    async def by_payment_account(reference: str) -> Any:
        return None

    async def record_once(**fields: Any) -> None:
        return None

    return {
        "sessions": Store(user_for=user_for),
        "policies": Store(by_payment_account=by_payment_account),
        "premiums": Store(record_once=record_once),
        "settings": Settings.from_env(),
    }


def _statement_file(cwd: Path) -> dict[str, Any]:
    """``upload_path`` and ``original_name``: an org-portal CSV export the host received."""
    upload = cwd / "upload-0001.bin"
    shutil.copyfile(STATEMENT_CSV, upload)
    return {"upload_path": upload, "original_name": STATEMENT_CSV.name}


def _statement_xlsx(cwd: Path) -> dict[str, Any]:
    """``statement.xlsx`` in the working directory: an org-portal export as XLSX."""
    from tests.statements.generator import StatementSpec, write_family_a_xlsx

    write_family_a_xlsx(StatementSpec(rows=20), cwd / "statement.xlsx")
    return {}


SETUPS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "kit": _kit,
    "plugin": _plugin,
    "stored-callback": _stored_callback,
    "daraja": _daraja,
    "host-stores": _host_stores,
    "statement-file": _statement_file,
    "statement-xlsx": _statement_xlsx,
}


# -- running a block ----------------------------------------------------------------


def _resolve_imports(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    importlib.import_module(f"{node.module}.{alias.name}")


def _kits(ns: dict[str, Any]) -> list[MpesaKit]:
    return [value for value in ns.values() if isinstance(value, MpesaKit)]


async def _run_async(code: Any, ns: dict[str, Any], simulator: RunningSimulator) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if ns.pop("_async_daraja", False):
            ns["daraja"] = await stack.enter_async_context(AsyncDarajaClient(Settings.from_env()))
        after_kit = ns.pop("_after_kit", None)
        if after_kit is not None:
            await after_kit(ns)
        try:
            result = eval(code, ns)
            if inspect.iscoroutine(result):
                await result
        finally:
            for kit in _kits(ns):
                await kit.aclose()


def run_block(block: Block, cwd: Path, simulator: RunningSimulator) -> dict[str, Any]:
    """Run ``block`` as the docs show it; return its namespace."""
    source = block.code
    filename = f"<{block.id}>"
    tree = ast.parse(source, filename)  # a syntax error fails here, naming the page and line
    if "compile-only" in block.directives:
        assert block.directives["compile-only"], f"{block.id}: compile-only needs a reason"
        compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        _resolve_imports(tree)
        return {}
    ns: dict[str, Any] = {"__name__": "__docs__"}
    for name in block.setups:
        assert name in SETUPS, f"{block.id}: unknown setup {name!r} (known: {sorted(SETUPS)})"
        ns.update(SETUPS[name](cwd))
    code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    needs_loop = bool(code.co_flags & inspect.CO_COROUTINE) or any(
        key in ns for key in ("_async_daraja", "_after_kit")
    )
    if needs_loop:
        asyncio.run(_run_async(code, ns, simulator))
    else:
        try:
            exec(code, ns)
        finally:
            for kit in _kits(ns):
                asyncio.run(kit.aclose())
    return ns


@pytest.fixture
def kit_logger_restored() -> Iterator[None]:
    logger = logging.getLogger("mpesa_daraja_kit")
    handlers = list(logger.handlers)
    yield
    logger.handlers[:] = handlers


@pytest.mark.usefixtures("kit_logger_restored")
@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: b.id)
def test_python_block_runs(block: Block, world: Path, simulator: RunningSimulator) -> None:
    run_block(block, world, simulator)


def test_every_page_with_code_is_collected() -> None:
    pages = {b.page.name for b in python_blocks()}
    assert {"README.md", "client.md", "hooks.md", "statements.md", "mounting.md"} <= pages
