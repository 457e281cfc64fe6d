"""The operator page and the insurer's own small API behind it.

================================  ==================================================
``GET  /``                        the operator page (static HTML + JavaScript)
``GET  /api/host``                environment, simulator on/off, the kit's mounts
``GET  /api/policies``            policies with their paid status
``GET  /api/premiums``            premiums received (the insurer's own record)
``GET  /api/sample-statement.csv``  a statement for today to try the upload with
``POST /api/simulator/c2b-payment``  the simulator: a customer pays by paybill
``POST /api/simulator/stk-outcome``  the simulator: the next prompt to a phone is
                                  cancelled or times out
================================  ==================================================
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mpesa_daraja_kit.errors import DarajaError, MpesaKitError
from mpesa_daraja_kit.money import parse_amount
from mpesa_daraja_kit.phone import normalize_msisdn
from mpesa_daraja_kit.simulator import Outcome
from sample_host.config import INTERNAL_MOUNT, PUBLIC_MOUNT, SIMULATOR_MOUNT
from sample_host.statement import sample_statement

if TYPE_CHECKING:
    from sample_host.app import SampleHost

__all__ = ["STATIC", "operator_routes"]

STATIC = Path(__file__).with_name("static")

# What the operator page may ask the simulator to do to a prompt.
_PROMPT_OUTCOMES = {"cancelled": Outcome.CANCELLED, "timeout": Outcome.TIMEOUT}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {}


def operator_routes(host: SampleHost) -> list[BaseRoute]:
    """Return the operator page's routes."""

    def no_simulator() -> JSONResponse:
        return _error(
            409,
            "simulator_off",
            f"the simulator is not running in-process (MPESA_ENVIRONMENT="
            f"{host.settings.environment.value}); this button only works in the simulator "
            "environment",
        )

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "operator.html", media_type="text/html")

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "environment": host.settings.environment.value,
                "simulator": host.simulator is not None,
                "simulatorUrl": SIMULATOR_MOUNT if host.simulator is not None else None,
                "stkEnabled": host.settings.stk_enabled,
                "shortCode": host.settings.business_short_code,
                "publicMount": PUBLIC_MOUNT,
                "internalMount": INTERNAL_MOUNT,
            }
        )

    async def policies(request: Request) -> Response:
        return JSONResponse({"items": [p.to_json() for p in await host.insurer.policies()]})

    async def premiums(request: Request) -> Response:
        return JSONResponse({"items": [p.to_json() for p in await host.insurer.premiums()]})

    async def statement(request: Request) -> Response:
        name, data = sample_statement(
            await host.insurer.policies(),
            await host.insurer.premiums(limit=500),
            short_code=host.settings.business_short_code,
            now=host.kit.clock(),
        )
        return Response(
            data,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def c2b_payment(request: Request) -> Response:
        if host.simulator is None:
            return no_simulator()
        body = await _body(request)
        account = str(body.get("accountReference") or "").strip()
        if not account:
            return _error(400, "invalid_request", "give the policy's payment account number")
        try:
            phone = normalize_msisdn(str(body.get("phoneNumber") or ""))
            amount = parse_amount(body.get("amount"), field="amount") or Decimal(0)
            await host.kit.client.c2b_simulate(amount, phone, account)
        except MpesaKitError as exc:
            status = 502 if isinstance(exc, DarajaError) else 400
            return _error(status, str(exc.code), exc.message)
        return JSONResponse(
            {
                "message": f"the simulated customer pays KES {amount} to account {account}; "
                f"the confirmation arrives in about {host.config.simulator_delay:g} s"
            },
            status_code=202,
        )

    async def stk_outcome(request: Request) -> Response:
        if host.simulator is None:
            return no_simulator()
        body = await _body(request)
        outcome = _PROMPT_OUTCOMES.get(str(body.get("outcome", "")))
        if outcome is None:
            return _error(400, "invalid_request", "outcome must be 'cancelled' or 'timeout'")
        try:
            phone = normalize_msisdn(str(body.get("phoneNumber") or ""))
        except MpesaKitError as exc:
            return _error(400, str(exc.code), exc.message)
        host.simulator.queue_outcome(outcome, phone_number=phone)
        return JSONResponse({"queued": outcome.value, "phoneNumber": phone})

    return [
        Route("/", page, methods=["GET"], name="operator"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/host", info, methods=["GET"], name="host_info"),
        Route("/api/policies", policies, methods=["GET"], name="policies"),
        Route("/api/premiums", premiums, methods=["GET"], name="premiums"),
        Route("/api/sample-statement.csv", statement, methods=["GET"], name="sample_statement"),
        Route("/api/simulator/c2b-payment", c2b_payment, methods=["POST"], name="sim_c2b"),
        Route("/api/simulator/stk-outcome", stk_outcome, methods=["POST"], name="sim_outcome"),
    ]
