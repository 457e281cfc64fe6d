"""The simulated Daraja: its API paths, its memory, and a Python API to drive it.

Build it with :func:`create_simulator_app` (a Starlette app) or
:class:`Simulator` (the app plus the Python API tests and the sample host
use). Credentials come from :class:`~mpesa_daraja_kit.config.Settings`, so a
kit and a simulator started from one environment agree.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpesa_daraja_kit.config import (
    SANDBOX_PASSKEY,
    SANDBOX_SHORT_CODE,
    SIMULATOR_CONSUMER_KEY,
    SIMULATOR_CONSUMER_SECRET,
    Settings,
)
from mpesa_daraja_kit.simulator import control
from mpesa_daraja_kit.simulator.checks import (
    OVERLOADED,
    DarajaFault,
    Registration,
    basic_credentials,
    check_c2b_simulate,
    check_register,
    check_stk_push,
    check_stk_query,
    invalid,
    parse_json_body,
    reference_prompts,
)
from mpesa_daraja_kit.simulator.config import (
    Api,
    CallbackMode,
    Outcome,
    OutcomeSpec,
    SimulatorConfig,
    outcome_for_phone,
)
from mpesa_daraja_kit.simulator.delivery import Delivery, DeliveryKind, Dispatcher
from mpesa_daraja_kit.simulator.flows import Flows
from mpesa_daraja_kit.simulator.payloads import IdFactory, stk_query_body
from mpesa_daraja_kit.simulator.state import C2BPayment, StkTransaction, Store

__all__ = ["Simulator", "create_simulator_app"]

Handler = Callable[[Request], Awaitable[Response]]

_LOCKED = (
    "Unable to lock subscriber, a transaction is already in process for the current subscriber"
)


class Simulator:
    """A local Daraja: validates like Daraja, answers like Daraja, and calls back.

    Attributes:
        app: the Starlette application to serve.
        settings: the kit settings it was built from.
        config: the simulator's own behaviour.
    """

    def __init__(self, settings: Settings | None = None, *, config: SimulatorConfig | None = None):
        self.settings = settings or Settings.for_simulator()
        self.config = config or SimulatorConfig()
        s = self.settings
        self.short_code = s.business_short_code or SANDBOX_SHORT_CODE
        self.passkey = s.passkey or SANDBOX_PASSKEY
        self._credentials = (
            s.consumer_key or SIMULATOR_CONSUMER_KEY,
            s.consumer_secret or SIMULATOR_CONSUMER_SECRET,
        )
        self.store = Store(self.config.opening_balance)
        self.ids = IdFactory(self.config.seed)
        self.dispatcher = Dispatcher(self.config.retry, self.config.clock)
        self.flows = Flows(self.config, self.store, self.ids, self.dispatcher)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan)
        self.app.state.simulator = self

    def _routes(self) -> list[Route]:
        daraja = [
            ("/oauth/v1/generate", self._token, "GET"),
            ("/mpesa/stkpush/v1/processrequest", self._stk_push, "POST"),
            ("/mpesa/stkpushquery/v1/query", self._stk_query, "POST"),
            ("/mpesa/c2b/v1/registerurl", self._register, "POST"),
            ("/mpesa/c2b/v2/registerurl", self._register, "POST"),
            ("/mpesa/c2b/v1/simulate", self._c2b_simulate, "POST"),
            ("/mpesa/c2b/v2/simulate", self._c2b_simulate, "POST"),
        ]
        routes = [
            Route(path, _answering_faults(self.ids, handler), methods=[method])
            for path, handler, method in daraja
        ]
        return routes + control.routes(self)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        try:
            yield
        finally:
            await self.dispatcher.aclose()
            self._loop = None

    # -- Daraja endpoints -------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        if request.query_params.get("grant_type") != "client_credentials":
            raise DarajaFault("400.008.02", "Invalid grant type passed")
        if basic_credentials(request.headers.get("authorization")) != self._credentials:
            raise DarajaFault("400.008.01", "Invalid Authentication passed")
        lifetime = self.config.token_lifetime
        token = self.store.issue_token(
            self.config.clock(), lifetime, single=self.config.single_token
        )
        # expires_in is a string in Daraja's answer (DARAJA.md, Hosts and auth).
        return JSONResponse({"access_token": token, "expires_in": str(lifetime)})

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise DarajaFault("404.001.04", "Invalid Authentication Header")
        if not self.store.token_valid(token.strip(), self.config.clock()):
            raise DarajaFault("404.001.03", "Invalid Access Token")

    async def _json(self, request: Request) -> dict[str, Any]:
        self._authorize(request)
        return parse_json_body(request.headers.get("content-type"), await request.body())

    async def _stk_push(self, request: Request) -> Response:
        body = await self._json(request)
        now = self.config.clock()
        push = check_stk_push(
            body, short_code=self.short_code, passkey=self.passkey, config=self.config, now=now
        )
        spec = self.choose(Api.STK, push.phone_number)
        outcome = spec.outcome
        if push.transaction_type == "CustomerPayBillOnline" and push.party_b != push.short_code:
            outcome = Outcome.NOT_PERMITTED  # a paybill push must name itself as PartyB
        if not reference_prompts(push.account_reference):
            outcome = Outcome.TIMEOUT  # accepted, but the phone never shows the prompt
        with self.store.lock:
            if self.store.open_prompt_for(push.phone_number) is not None:
                raise DarajaFault(OVERLOADED, _LOCKED)
            base_id = checkout_id = self.ids.checkout_request_id(now, push.phone_number)
            clash = 0
            while checkout_id in self.store.transactions:  # same phone, same millisecond
                clash += 1
                checkout_id = f"{base_id}{clash}"
            tx = StkTransaction(
                merchant_request_id=self.ids.request_id(),
                checkout_request_id=checkout_id,
                request=push,
                spec=spec,
                outcome=outcome,
                created_at=now,
            )
            self.store.add_transaction(tx)
        answer = {
            "MerchantRequestID": tx.merchant_request_id,
            "CheckoutRequestID": tx.checkout_request_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }
        if spec.callback is CallbackMode.BEFORE_RESPONSE:
            # The documented fault: the callback reaches the host before this answer does.
            self.flows.finish_stk(tx)
            await self.flows.deliver_stk(tx)
        else:
            self.dispatcher.spawn(self.flows.run_stk(tx))
        return JSONResponse(answer)

    async def _stk_query(self, request: Request) -> Response:
        body = await self._json(request)
        checkout_id = check_stk_query(
            body,
            short_code=self.short_code,
            passkey=self.passkey,
            config=self.config,
            now=self.config.clock(),
        )
        tx = self.transaction(checkout_id)
        if tx is None:
            raise invalid("CheckoutRequestID")
        if tx.pending:
            # Pending is an error body, not a result (DARAJA.md, STK Push Query).
            raise DarajaFault(
                OVERLOADED, "The transaction is being processed", request_id=checkout_id
            )
        return JSONResponse(
            stk_query_body(
                merchant_request_id=tx.merchant_request_id,
                checkout_request_id=tx.checkout_request_id,
                outcome=tx.outcome,
            )
        )

    async def _register(self, request: Request) -> Response:
        body = await self._json(request)
        registration = check_register(body, config=self.config)
        with self.store.lock:
            if (
                not self.config.allow_reregister
                and registration.short_code in self.store.registrations
            ):
                raise DarajaFault("500.003.1001", "Urls are already registered")
            self.store.registrations[registration.short_code] = registration
        return JSONResponse(
            {
                # Daraja's own misspelling of "Conversation".
                "OriginatorCoversationID": self.ids.originator_conversation_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            }
        )

    async def _c2b_simulate(self, request: Request) -> Response:
        body = await self._json(request)
        paid = check_c2b_simulate(body, config=self.config)
        spec = self.choose(Api.C2B, paid.msisdn)
        now = self.config.clock()
        payment = C2BPayment(trans_id=self.ids.receipt_number(now), request=paid, created_at=now)
        with self.store.lock:
            self.store.payments.append(payment)
        if spec.callback is CallbackMode.BEFORE_RESPONSE:
            await self.flows.run_c2b(payment, spec)
        else:
            self.dispatcher.spawn(self.flows.run_c2b(payment, spec))
        return JSONResponse(
            {
                "OriginatorCoversationID": self.ids.originator_conversation_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        )

    # -- outcome rule -----------------------------------------------------------------

    def choose(self, api: Api, phone_number: str) -> OutcomeSpec:
        """Pick what happens to a request: queued spec, else the phone rule, else the default."""
        queued = self.store.take_queued(api, phone_number)
        if queued is not None:
            return queued
        return OutcomeSpec(outcome=outcome_for_phone(phone_number) or self.config.default_outcome)

    # -- Python API -------------------------------------------------------------------

    def queue_outcome(
        self, outcome: Outcome | str | OutcomeSpec = Outcome.SUCCESS, **options: Any
    ) -> OutcomeSpec:
        """Queue what happens to the next request (see :class:`OutcomeSpec` for options)."""
        spec = (
            outcome
            if isinstance(outcome, OutcomeSpec)
            else OutcomeSpec(outcome=Outcome(outcome), **options)
        )
        self.store.queue_outcome(spec)
        return spec

    def queued_outcomes(self) -> list[OutcomeSpec]:
        """Return the queued outcomes, next first."""
        with self.store.lock:
            return list(self.store.queue)

    def deliveries(self, kind: DeliveryKind | str | None = None) -> list[Delivery]:
        """Return every callback attempt so far (optionally of one kind), oldest first."""
        return self.dispatcher.records(None if kind is None else DeliveryKind(kind))

    def wait_for_deliveries(
        self, count: int, *, kind: DeliveryKind | str | None = None, timeout: float = 10.0
    ) -> list[Delivery]:
        """Block until ``count`` attempts (of ``kind``) were made; return them.

        Call from a thread other than the simulator's event loop (tests, with
        the simulator served by :func:`mpesa_daraja_kit.testing.serve_app`).

        Raises:
            TimeoutError: when fewer were made in time.
        """
        return self.dispatcher.wait_for(
            count, kind=None if kind is None else DeliveryKind(kind), timeout=timeout
        )

    async def wait_for_deliveries_async(
        self,
        count: int,
        *,
        kind: DeliveryKind | str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a thread wait, mirrors the sync twin
    ) -> list[Delivery]:
        """Wait like :meth:`wait_for_deliveries` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for_deliveries, count, kind=kind, timeout=timeout)

    def transactions(self) -> list[StkTransaction]:
        """Return every STK prompt, oldest first."""
        with self.store.lock:
            return list(self.store.transactions.values())

    def transaction(self, checkout_request_id: str) -> StkTransaction | None:
        """Return one STK prompt by its ``CheckoutRequestID``."""
        with self.store.lock:
            return self.store.transactions.get(checkout_request_id)

    def payments(self) -> list[C2BPayment]:
        """Return every C2B payment (simulated, or produced by an STK push), oldest first."""
        with self.store.lock:
            return list(self.store.payments)

    def registrations(self) -> dict[str, Registration]:
        """Return the registered C2B URLs by short code."""
        with self.store.lock:
            return dict(self.store.registrations)

    def register_urls(
        self,
        confirmation_url: str,
        validation_url: str,
        *,
        short_code: str | None = None,
        response_type: str = "Completed",
    ) -> Registration:
        """Register C2B URLs directly (no checks), as if the register API had been called."""
        registration = Registration(
            short_code=short_code or self.short_code,
            response_type=response_type,
            confirmation_url=confirmation_url,
            validation_url=validation_url,
        )
        with self.store.lock:
            self.store.registrations[registration.short_code] = registration
        return registration

    def expire_tokens(self) -> None:
        """Make every issued access token invalid (the next call gets ``404.001.03``)."""
        self.store.expire_tokens()

    def reset(self) -> None:
        """Forget prompts, payments, registrations, queued outcomes and deliveries.

        Callbacks still waiting to be sent are cancelled; tokens stay valid.
        """
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self.dispatcher.cancel_all()
            else:
                done = threading.Event()

                def _cancel() -> None:
                    self.dispatcher.cancel_all()
                    done.set()

                loop.call_soon_threadsafe(_cancel)
                done.wait(timeout=5.0)
        self.store.reset()
        self.dispatcher.clear()


def create_simulator_app(
    settings: Settings | None = None, *, config: SimulatorConfig | None = None
) -> Starlette:
    """Return the simulator's Starlette app (its :class:`Simulator` is ``app.state.simulator``)."""
    return Simulator(settings, config=config).app


def _answering_faults(ids: IdFactory, handler: Handler) -> Handler:
    """Wrap a handler so a :class:`DarajaFault` becomes Daraja's error body."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except DarajaFault as fault:
            return JSONResponse(
                {
                    "requestId": fault.request_id or ids.request_id(),
                    "errorCode": fault.error_code,
                    "errorMessage": fault.message,
                },
                status_code=fault.status,
            )

    return endpoint
