"""A minimal host for ``uvicorn --workers N`` runs: the kit's public app, its lifespan, nothing else.

Configured by the environment as a deployed host is: ``MPESA_*`` settings
(``MPESA_ENVIRONMENT=simulator`` and ``MPESA_SPOOL_DIR`` at least) and
``HOST_DATABASE_URL``. Served as ``uvicorn tests.reliability.host_app:app``.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from mpesa_daraja_kit import Account, MpesaKit, Settings, hookimpl
from tests.reliability.workers import API_KEY


class Host:
    """Every policy exists; agents authenticate with ``X-API-Key``."""

    @hookimpl
    def mpesa_authenticate(self, request: Any) -> str | None:
        return "agent" if request.headers.get("X-API-Key") == API_KEY else None

    @hookimpl
    def mpesa_lookup_account(self, account_reference: str) -> Account | None:
        return Account(reference=account_reference, account_id=account_reference)


kit = MpesaKit(Settings.from_env(), database_url=os.environ["HOST_DATABASE_URL"], plugins=[Host()])


async def ready(request: Request) -> JSONResponse:
    state = kit.readiness()
    return JSONResponse(
        {"ready": state.ready, "reasons": list(state.reasons), "pid": os.getpid()},
        status_code=200 if state.ready else 503,
    )


app = Starlette(
    routes=[
        Route("/ready", ready),
        Mount("/hooks/daraja", kit.public_app),
        Mount("/api/mpesa", kit.internal_app),
    ],
    lifespan=lambda app: kit.lifespan(),
)
