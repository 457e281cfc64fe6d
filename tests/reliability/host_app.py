"""A minimal host for ``uvicorn --workers N`` runs: the kit's public app, its lifespan, nothing else.

Configured by the environment as a deployed host is: ``MPESA_*`` settings
(``MPESA_ENVIRONMENT=simulator`` and ``MPESA_SPOOL_DIR`` at least) and
``HOST_DATABASE_URL``. Served as ``uvicorn tests.reliability.host_app:app``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from mpesa_daraja_kit import MpesaKit, Settings

kit = MpesaKit(Settings.from_env(), database_url=os.environ["HOST_DATABASE_URL"])


async def ready(request: Request) -> JSONResponse:
    state = kit.readiness()
    return JSONResponse(
        {"ready": state.ready, "reasons": list(state.reasons), "pid": os.getpid()},
        status_code=200 if state.ready else 503,
    )


app = Starlette(
    routes=[Route("/ready", ready), Mount("/hooks/daraja", kit.public_app)],
    lifespan=lambda app: kit.lifespan(),
)
