"""Control endpoints under ``/simulator/``: queue outcomes, inspect deliveries, reset.

They are for a developer's machine and CI, so they have no authentication;
never expose a simulator beyond the local network.

=======================================  ==============================================
``POST /simulator/next-outcome``         queue an outcome (JSON, see ``OutcomeSpec``)
``GET  /simulator/next-outcome``         the queue, next first
``GET  /simulator/callbacks``            every delivery attempt (``?kind=stk_callback``)
``GET  /simulator/transactions``         STK prompts and C2B payments
``GET  /simulator/registrations``        registered C2B URLs by short code
``POST /simulator/expire-tokens``        invalidate every access token
``POST /simulator/reset``                forget everything but the tokens
=======================================  ==============================================
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mpesa_daraja_kit.simulator.config import OutcomeSpec
from mpesa_daraja_kit.simulator.delivery import DeliveryKind
from mpesa_daraja_kit.simulator.payloads import dumps_daraja

if TYPE_CHECKING:
    from mpesa_daraja_kit.simulator.app import Simulator

__all__ = ["routes"]


def _json(data: Any, status_code: int = 200) -> Response:
    # Delivered bodies hold Decimals (the STK Amount): write them exactly.
    return Response(dumps_daraja(data), status_code=status_code, media_type="application/json")


def _error(message: str, status_code: int = 400) -> Response:
    return _json({"error": message}, status_code)


def routes(sim: Simulator) -> list[Route]:
    """Return the control routes bound to ``sim``."""

    async def next_outcome(request: Request) -> Response:
        if request.method == "GET":
            return _json({"queue": [spec.to_dict() for spec in sim.queued_outcomes()]})
        try:
            data = json.loads(await request.body(), parse_float=Decimal)
            spec = sim.queue_outcome(OutcomeSpec.from_json(data))
        except (ValueError, TypeError) as exc:
            return _error(str(exc))
        return _json({"queued": spec.to_dict(), "queue_length": len(sim.queued_outcomes())})

    async def callbacks(request: Request) -> Response:
        kind = request.query_params.get("kind")
        if kind is not None and kind not in DeliveryKind.__members__.values():
            known = ", ".join(k.value for k in DeliveryKind)
            return _error(f"unknown kind {kind!r}; expected one of {known}")
        return _json({"callbacks": [d.to_dict() for d in sim.deliveries(kind)]})

    async def transactions(request: Request) -> Response:
        return _json(
            {
                "stk": [tx.to_dict() for tx in sim.transactions()],
                "c2b": [payment.to_dict() for payment in sim.payments()],
            }
        )

    async def registrations(request: Request) -> Response:
        return _json(
            {
                code: {
                    "short_code": reg.short_code,
                    "response_type": reg.response_type,
                    "confirmation_url": reg.confirmation_url,
                    "validation_url": reg.validation_url,
                }
                for code, reg in sim.registrations().items()
            }
        )

    async def expire_tokens(request: Request) -> Response:
        sim.expire_tokens()
        return _json({"tokens": "expired"})

    async def reset(request: Request) -> Response:
        sim.reset()
        return _json({"reset": True})

    return [
        Route("/simulator/next-outcome", next_outcome, methods=["GET", "POST"]),
        Route("/simulator/callbacks", callbacks, methods=["GET"]),
        Route("/simulator/transactions", transactions, methods=["GET"]),
        Route("/simulator/registrations", registrations, methods=["GET"]),
        Route("/simulator/expire-tokens", expire_tokens, methods=["POST"]),
        Route("/simulator/reset", reset, methods=["POST"]),
    ]
