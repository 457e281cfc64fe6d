"""The health app: liveness and readiness probes (no authentication, no secrets, no PII).

``GET /live`` answers 200 while the process serves — wire it to the restart
probe. ``GET /ready`` answers 200 ``{"status": "ok", …}`` or 503
``{"status": "degraded", "reasons": […], "checks": {…}}`` — wire it to alerting
or a deploy gate, never to the load balancer in front of the callback routes:
during a database outage the callbacks must still reach the kit to be spooled.
"""

from __future__ import annotations

from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpesa_daraja_kit.log import get_logger
from mpesa_daraja_kit.services.health import HealthReport
from mpesa_daraja_kit.web.responses import JSON_EXCEPTION_HANDLERS

__all__ = ["HealthContext", "build_health_app"]

log = get_logger("health")

_NO_STORE = {"Cache-Control": "no-store"}


class HealthContext(Protocol):
    """The part of ``MpesaKit`` the health app uses."""

    async def health(self) -> HealthReport: ...


def build_health_app(kit: HealthContext) -> Starlette:
    """Return the health Starlette app for ``kit`` (mount it at e.g. ``/health``)."""

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def ready(request: Request) -> Response:
        try:
            report = await kit.health()
        except Exception as exc:  # a probe answers, whatever happened
            log.exception("health: readiness check failed")
            body = {
                "status": "degraded",
                "reasons": [f"degraded because the readiness check failed ({type(exc).__name__})"],
                "checks": {},
            }
            return JSONResponse(body, status_code=503, headers=_NO_STORE)
        return JSONResponse(
            report.as_dict(), status_code=200 if report.ok else 503, headers=_NO_STORE
        )

    return Starlette(
        routes=[
            Route("/live", live, methods=["GET"], name="health_live"),
            Route("/ready", ready, methods=["GET"], name="health_ready"),
        ],
        exception_handlers=dict(JSON_EXCEPTION_HANDLERS),
    )
