"""The server under test, in its own process: ``python -m tests.bench.server kit|bare …``.

``kit`` serves the kit's public app mounted the way a host mounts it
(``/hooks`` + the kit's routes, the host's lifespan entering ``kit.lifespan()``,
the event dispatcher running, a host plugin answering ``mpesa_lookup_account``
and counting events). ``bare`` serves a plain Starlette endpoint on the same
paths that parses the same JSON and answers the same body: the ceiling of the
stack. Both run under uvicorn with one worker and identical settings (uvloop
and httptools when the ``fast`` extra installed them).

The kit runs with the settings a sandbox host would use, except that the
callback allowlist is ``127.0.0.1`` (so the address guard does the check it does
in production, where the Safaricom list applies) — every guard is in the path.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from mpesa_daraja_kit.events import Account
from mpesa_daraja_kit.hookspecs import hookimpl

PREFIX = "/hooks"
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
ACCOUNTS = [f"POL{n:07d}" for n in range(1000)]


def uvicorn_options() -> dict[str, Any]:
    """Return the uvicorn settings shared by the kit and the bare server."""
    fast = bool(importlib.util.find_spec("uvloop")) and bool(importlib.util.find_spec("httptools"))
    return {
        "host": "127.0.0.1",
        "workers": 1,
        "loop": "uvloop" if fast else "asyncio",
        "http": "httptools" if fast else "h11",
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
    }


def bare_app() -> Starlette:
    """Return the baseline: parse the JSON body, answer Accepted, store nothing."""

    async def callback(request: Request) -> Response:
        body = json.loads(await request.body())
        if not isinstance(body, dict):
            return JSONResponse({"error": "expected an object"}, status_code=400)
        return JSONResponse(ACCEPTED)

    routes = [
        Route(f"{PREFIX}/confirmation", callback, methods=["POST"]),
        Route(f"{PREFIX}/stk-push/callback", callback, methods=["POST"]),
    ]
    return Starlette(routes=routes)


class BenchHost:
    """A host plugin: knows a thousand policies and counts the events it is given."""

    def __init__(self) -> None:
        self.accounts = {ref: Account(reference=ref, account_id=ref.lower()) for ref in ACCOUNTS}
        self.events = 0

    @hookimpl
    def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        return self.accounts.get(account_reference.strip().upper())

    @hookimpl
    def mpesa_payment_recorded(self, event: Any) -> None:
        self.events += 1

    @hookimpl
    def mpesa_payment_linked(self, event: Any) -> None:
        self.events += 1

    @hookimpl
    def mpesa_stk_push_updated(self, event: Any) -> None:
        self.events += 1

    @hookimpl
    def mpesa_payment_unmatched(self, event: Any) -> None:
        self.events += 1


def kit_settings() -> Any:
    """Return the sandbox settings the benchmark host runs with."""
    from mpesa_daraja_kit.config import SANDBOX_PASSKEY, SANDBOX_SHORT_CODE, Environment, Settings

    return Settings(
        environment=Environment.SANDBOX,
        consumer_key="bench-key",
        consumer_secret="bench-secret",
        business_short_code=SANDBOX_SHORT_CODE,
        passkey=SANDBOX_PASSKEY,
        callback_base_url="https://host.example.com/hooks",
        callback_allowlist="127.0.0.1",
    )


def kit_app(database_url: str) -> Starlette:
    """Return a host app that mounts the kit's public app under ``/hooks``."""
    from mpesa_daraja_kit.kit import MpesaKit

    kit = MpesaKit(kit_settings(), database_url=database_url, plugins=[BenchHost()])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with kit.lifespan():
            yield

    return Starlette(routes=[Mount(PREFIX, kit.public_app)], lifespan=lifespan)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.server")
    parser.add_argument("which", choices=["kit", "bare"])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = kit_app(args.database_url) if args.which == "kit" else bare_app()
    uvicorn.run(app, port=args.port, **uvicorn_options())


if __name__ == "__main__":
    main(sys.argv[1:])
