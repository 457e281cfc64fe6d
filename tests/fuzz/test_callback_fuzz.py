"""Fuzzing the public routes: whatever arrives, no 500, raw body kept, no payment from junk.

Each public route gets ``MPESA_FUZZ_EXAMPLES`` (default 10 000) generated bodies:
mutated fixtures, wrong types, huge strings, unicode (and invalid UTF-8), deep
nesting and raw bytes. The app runs in-process on an in-memory SQLite
database and is called as a plain ASGI app, so one example costs a few
database statements.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from mpesa_daraja_kit.db.models import callback_log, metadata, stk_requests
from mpesa_daraja_kit.enums import CallbackOutcome, StkPushStatus
from mpesa_daraja_kit.errors import PayloadError
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.wire import parse_stk_callback
from tests.conftest import load_fixture
from tests.support import HostPlugin, kit_settings, make_kit

T0 = datetime(2024, 7, 10, 7, 16, 3, tzinfo=UTC)

EXAMPLES = int(os.environ.get("MPESA_FUZZ_EXAMPLES", "10000"))
MAX_BYTES = 64 * 1024
PREFIX = 4096

ROUTES = {
    "/stk-push/callback": "stk_callback_success",
    "/confirmation": "c2b_confirmation_plain_msisdn",
    "/validation": "c2b_validation",
}

# -- bodies -------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["0", "1032", "", " ", "1.00", "-1", "1e309", "254708374149", "SFC_IC0003"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
huge_strings = st.builds(
    lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(1, 40_000)
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, fixture: dict[str, Any]) -> Any:
    data: Any = copy.deepcopy(fixture)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add", "huge", "nest"]))
        if not path:
            data = draw(json_values) if action == "replace" else data
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
        elif action == "huge":
            parent[last] = draw(huge_strings)
        elif action == "nest":
            parent[last] = _nest(parent[last], draw(st.integers(1, 200)))
        else:
            parent[last] = draw(json_values)
    return data


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = {"Item": [value]}
    return value


def _encode(value: Any, unicode_mode: str) -> bytes:
    text = json.dumps(value, ensure_ascii=unicode_mode == "ascii")
    return text.encode("utf-8", errors="surrogatepass")


def bodies(fixture: dict[str, Any]) -> st.SearchStrategy[bytes]:
    as_json = st.builds(
        _encode,
        mutated(fixture) | json_values,
        st.sampled_from(["ascii", "utf-8"]),
    )
    deep = st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n) | st.integers(1, 50_000).map(
        lambda n: b'{"Body":' * n + b"{}" + b"}" * n
    )
    return (
        as_json
        | deep
        | st.binary(max_size=300)
        | st.just(b"")
        | st.builds(lambda s: s.encode("utf-8", "surrogatepass"), st.text(max_size=200))
    )


# -- the world ----------------------------------------------------------------------------


class World:
    """A kit on an in-memory database, driven from one event loop for the whole module."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.engine: AsyncEngine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
        self.runner.run(self._create())
        self.kit: MpesaKit = make_kit(
            self.engine, kit_settings("http://127.0.0.1:9"), HostPlugin(), deliver_events=False
        )
        self.checkout = load_fixture("stk_callback_success")["Body"]["stkCallback"][
            "CheckoutRequestID"
        ]

    async def _create(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    def close(self) -> None:
        self.runner.run(self.kit.client.aclose())
        self.runner.run(self.engine.dispose())
        self.runner.close()

    async def post(self, path: str, body: bytes) -> int:
        chunks = [body[i : i + 16384] for i in range(0, len(body), 16384)] or [b""]
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        status: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("kit", 80),
        }
        await self.kit.public_app(scope, receive, send)
        return status[0]

    async def last_callback(self) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(callback_log).order_by(callback_log.c.id.desc()).limit(1)
                )
            ).one()

    async def reset_request(self) -> None:
        """Keep one PENDING request for the fixture's CheckoutRequestID."""
        async with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table is not callback_log:
                    await conn.execute(sa.delete(table))
            await conn.execute(
                sa.insert(stk_requests).values(
                    checkout_request_id=self.checkout,
                    merchant_request_id="29115-34620561-1",
                    phone_number="254708374149",
                    phone_hash="x" * 64,
                    amount=1,
                    account_reference="POL0012345",
                    account_key="POL0012345",
                    status=StkPushStatus.PENDING,
                    initiated_at=T0,
                    created_at=T0,
                    updated_at=T0,
                )
            )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    world = World()
    world.runner.run(world.reset_request())
    yield world
    world.close()


def _parses(path: str, body: bytes, content_type: str = "application/json") -> bool:
    try:
        if path == "/stk-push/callback":
            parse_stk_callback(body)
        else:
            from mpesa_daraja_kit.services.c2b import read_confirmation

            read_confirmation(body, content_type)
    except PayloadError:
        return False
    return True


def _check(world: World, path: str, body: bytes) -> None:
    status = world.runner.run(world.post(path, body))
    assert status in (200, 413), status
    row = world.runner.run(world.last_callback())
    if status == 413:
        assert len(body) > MAX_BYTES
        assert row.outcome is CallbackOutcome.REFUSED
        assert bytes(row.raw_body) == body[:PREFIX]
        return
    assert bytes(row.raw_body) == body  # kept exactly as received
    assert row.outcome is not CallbackOutcome.RECEIVED  # processed, never left half-done
    if path == "/validation":
        return  # validation never creates payments
    if row.outcome in (CallbackOutcome.APPLIED, CallbackOutcome.DUPLICATE, CallbackOutcome.WAITING):
        # Only a body the parser accepts may change state (and record a payment).
        assert _parses(path, body), body[:200]
    if row.outcome is CallbackOutcome.APPLIED and path == "/stk-push/callback":
        world.runner.run(world.reset_request())


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
    database=None,
)


@pytest.mark.slow
@pytest.mark.parametrize("path", list(ROUTES))
def test_public_route_survives_any_body(world: World, path: str) -> None:
    names = {getattr(r, "path", None) for r in world.kit.public_app.routes}
    if path not in names:
        pytest.skip(f"{path} is not routed yet")
    fixture = load_fixture(ROUTES[path])

    @FUZZ_SETTINGS
    @given(bodies(fixture))
    def run(body: bytes) -> None:
        _check(world, path, body)

    run()
