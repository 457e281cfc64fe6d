"""The blocking Daraja client: the thread-safe twin of :class:`AsyncDarajaClient`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from types import TracebackType
from typing import Self, TypeVar

import httpx

from mpesa_daraja_kit.client.auth import DarajaAuth, SyncTokenCache
from mpesa_daraja_kit.client.core import (
    PATHS,
    DarajaCore,
    StkPushResult,
    http_timeout,
    outcome_unknown,
)
from mpesa_daraja_kit.client.errors import DarajaOperation
from mpesa_daraja_kit.client.retry import Decision, RetryPolicy, decide
from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.errors import DarajaError
from mpesa_daraja_kit.wire import (
    C2BRegisterResponse,
    C2BSimulateResponse,
    OAuthToken,
    StkQueryResponse,
)

__all__ = ["DarajaClient"]

log = logging.getLogger("mpesa_daraja_kit.client")

T = TypeVar("T")


class DarajaClient:
    """Call Daraja from blocking code (scripts, threads): same calls and errors as the async client.

    Args:
        settings: the kit settings (credentials, short code, limits, timeouts).
        transport: an httpx transport (``httpx.MockTransport`` in tests).
        base_url: overrides the Daraja host (sandbox, production, a simulator).
        token_cache: where the OAuth token is shared (default: in this client only).
        retry: the retry policy (default :class:`RetryPolicy`).
        clock: returns aware UTC now (injectable in tests).

    Use as ``with DarajaClient(settings) as daraja: ...`` or call :meth:`close`
    when done. One client may be shared by many threads.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        base_url: str | None = None,
        token_cache: SyncTokenCache | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.core = DarajaCore(settings, base_url=base_url, clock=clock)
        self.retry = retry if retry is not None else RetryPolicy()
        self._http = httpx.Client(transport=transport, timeout=http_timeout(settings))
        self.auth = DarajaAuth(
            self.fetch_token,
            cache=token_cache,
            key=self.core.token_cache_key,
            refresh_margin=settings.token_refresh_margin,
            clock=clock,
        )

    @property
    def base_url(self) -> str:
        """Return the Daraja host this client calls."""
        return self.core.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self._http.close()

    # -- calls ---------------------------------------------------------------------------

    def get_token(self) -> str:
        """Return a valid access token (cached, shared and refreshed early)."""
        return self.auth.get_token()

    def fetch_token(self) -> OAuthToken:
        """Fetch a new token from Daraja, bypassing the cache (retried when transient)."""
        return self._call(
            DarajaOperation.TOKEN, self.core.token_request, self.core.read_token, auth=False
        )

    def stk_push(
        self,
        phone_number: str | int,
        amount: int | Decimal | str,
        account_reference: str,
        transaction_desc: str | None = None,
        *,
        callback_url: str | None = None,
    ) -> StkPushResult:
        """Start an M-Pesa Express prompt on ``phone_number``; never sent twice.

        Returns:
            the request as sent (with its ``timestamp``) and Daraja's answer.

        Raises:
            InvalidPhoneNumber, InvalidAmount, InvalidAccountReference,
            ValidationError, ConfigError: before anything is sent.
            DarajaOutcomeUnknown: the push may have reached Daraja (timeout, 5xx).
            DarajaAPIError, DarajaTransportError: see ``docs/client.md``.
        """
        body = self.core.build_stk_push(
            phone_number, amount, account_reference, transaction_desc, callback_url=callback_url
        )
        response = self._call(
            DarajaOperation.STK_PUSH,
            lambda: self.core.post(PATHS["stk_push"], body),
            self.core.read_stk_push,
            sent=body,
        )
        return StkPushResult(request=body, response=response)

    def stk_query(self, checkout_request_id: str) -> StkQueryResponse:
        """Ask Daraja for the final result of an STK push.

        Raises:
            DarajaAPIError: with classification ``still_processing`` while the
                customer has not answered yet — query again later.
        """
        return self._call(
            DarajaOperation.STK_QUERY,
            lambda: self.core.post(
                PATHS["stk_query"], self.core.build_stk_query(checkout_request_id)
            ),
            lambda r: self.core.read(r, StkQueryResponse, DarajaOperation.STK_QUERY),
        )

    def register_c2b_urls(
        self,
        confirmation_url: str | None = None,
        validation_url: str | None = None,
        response_type: str | None = None,
        version: str | None = None,
    ) -> C2BRegisterResponse:
        """Register the C2B confirmation and validation URLs (defaults from the settings)."""
        chosen, body = self.core.build_c2b_register(
            confirmation_url, validation_url, response_type, version
        )
        return self._call(
            DarajaOperation.REGISTER_C2B_URLS,
            lambda: self.core.post(PATHS[f"register_{chosen}"], body),
            lambda r: self.core.read(r, C2BRegisterResponse, DarajaOperation.REGISTER_C2B_URLS),
        )

    def c2b_simulate(
        self,
        amount: int | Decimal | str,
        msisdn: str | int,
        bill_ref_number: str,
        command_id: str = "CustomerPayBillOnline",
    ) -> C2BSimulateResponse:
        """Simulate a customer paying the short code (sandbox and simulator only)."""
        body = self.core.build_c2b_simulate(amount, msisdn, bill_ref_number, command_id)
        return self._call(
            DarajaOperation.C2B_SIMULATE,
            lambda: self.core.post(PATHS["c2b_simulate"], body),
            lambda r: self.core.read(r, C2BSimulateResponse, DarajaOperation.C2B_SIMULATE),
            sent=body,
        )

    # -- sending ---------------------------------------------------------------------------

    def _call(
        self,
        operation: DarajaOperation,
        build: Callable[[], httpx.Request],
        read: Callable[[httpx.Response], T],
        *,
        auth: bool = True,
        sent: object = None,
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                request = build()
                try:
                    response = self._http.send(request, auth=self.auth if auth else None)
                except httpx.TransportError as exc:
                    raise self.core.transport_error(exc, operation) from exc
                return read(response)
            except DarajaError as error:
                decision = decide(operation, error, attempt, self.retry)
                if decision is Decision.OUTCOME_UNKNOWN:
                    raise outcome_unknown(operation, error, sent) from error
                if decision is Decision.RAISE:
                    raise
                delay = self.retry.delay(attempt)
                log.warning(
                    "Daraja %s failed (%s); try %d of %d in %.2f s",
                    operation,
                    error.code,
                    attempt + 1,
                    self.retry.attempts,
                    delay,
                )
                if delay > 0:
                    self.retry.sync_sleep(delay)
