"""The sans-I/O core of the Daraja client: build requests, read answers, no sending.

:class:`DarajaCore` turns validated arguments and :class:`Settings` into
``httpx.Request`` objects and turns ``httpx.Response`` objects into wire
classes or the errors of :mod:`mpesa_daraja_kit.client.errors`. The async
and sync clients only send what it builds and hand back what it reads, so
both behave identically.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import httpx

from mpesa_daraja_kit.client import checks
from mpesa_daraja_kit.client.errors import (
    DarajaAPIError,
    DarajaConnectionError,
    DarajaInvalidResponse,
    DarajaOperation,
    DarajaOutcomeUnknown,
    DarajaTimeout,
    DarajaTransportError,
)
from mpesa_daraja_kit.clock import Clock, format_daraja_timestamp, parse_daraja_timestamp, utc_now
from mpesa_daraja_kit.config import Environment, Settings
from mpesa_daraja_kit.errors import (
    ConfigError,
    DarajaError,
    PayloadError,
    ValidationError,
)
from mpesa_daraja_kit.phone import normalize_msisdn
from mpesa_daraja_kit.reference import validate_stk_account_reference
from mpesa_daraja_kit.wire import (
    C2BRegisterRequest,
    C2BSimulateRequest,
    DarajaErrorBody,
    OAuthToken,
    StkPushRequest,
    StkPushResponse,
    StkQueryRequest,
    load_json,
    structure,
    unstructure,
)

__all__ = ["PATHS", "DarajaCore", "StkPushResult", "http_timeout", "outcome_unknown"]

T = TypeVar("T")

PATHS: Mapping[str, str] = {
    "token": "/oauth/v1/generate",
    "stk_push": "/mpesa/stkpush/v1/processrequest",
    "stk_query": "/mpesa/stkpushquery/v1/query",
    "register_v1": "/mpesa/c2b/v1/registerurl",
    "register_v2": "/mpesa/c2b/v2/registerurl",
    "c2b_simulate": "/mpesa/c2b/v1/simulate",
}

_COMMAND_IDS = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")


@attrs.frozen
class StkPushResult:
    """An accepted STK push: the request exactly as sent and Daraja's answer."""

    request: StkPushRequest
    response: StkPushResponse

    @property
    def merchant_request_id(self) -> str:
        """Return Daraja's ``MerchantRequestID`` (made up by Daraja)."""
        return self.response.merchant_request_id

    @property
    def checkout_request_id(self) -> str:
        """Return Daraja's ``CheckoutRequestID``: the key for the callback and STK Query."""
        return self.response.checkout_request_id

    @property
    def customer_message(self) -> str:
        """Return Daraja's ``CustomerMessage``."""
        return self.response.customer_message

    @property
    def timestamp(self) -> str:
        """Return the ``Timestamp`` sent (Kenyan ``YYYYMMDDHHmmss``)."""
        return self.request.timestamp

    @property
    def requested_at(self) -> datetime:
        """Return the ``Timestamp`` sent as an aware UTC datetime."""
        return parse_daraja_timestamp(self.request.timestamp, field="Timestamp")


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.content[:400].decode("utf-8", "replace").split())
    return text[:120]


def http_timeout(settings: Settings) -> httpx.Timeout:
    """Return the httpx timeouts for Daraja calls from the settings."""
    return httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.connect_timeout,
    )


def outcome_unknown(
    operation: DarajaOperation, error: DarajaError, sent: object
) -> DarajaOutcomeUnknown:
    """Return the error raised when a money-moving request may have reached Daraja."""
    return DarajaOutcomeUnknown(
        f"Daraja {operation} may have been accepted but no usable answer came ({error.message}). "
        "It was NOT sent again, to avoid a second prompt and a double charge: wait for the "
        "callback or C2B confirmation, or check the statement, before trying again",
        operation=operation,
        reason=str(error.code),
        request=sent,
    )


class DarajaCore:
    """Build Daraja requests from settings and arguments; read Daraja answers.

    Args:
        settings: the kit settings (credentials, short code, limits).
        base_url: overrides ``settings.daraja_base_url`` (a simulator, a proxy).
        clock: returns aware UTC now; the STK ``Timestamp`` is its Kenyan time.
    """

    def __init__(
        self, settings: Settings, *, base_url: str | None = None, clock: Clock = utc_now
    ) -> None:
        self.settings = settings
        self.base_url = (base_url or settings.daraja_base_url).rstrip("/")
        self.clock = clock

    # -- token ---------------------------------------------------------------------------

    @property
    def token_cache_key(self) -> str:
        """Return the token cache key: a hash of base URL and consumer key, never a secret."""
        raw = f"{self.base_url}|{self.settings.consumer_key}".encode()
        return "daraja:" + hashlib.sha256(raw).hexdigest()[:32]

    def token_request(self) -> httpx.Request:
        """Build ``GET /oauth/v1/generate`` with HTTP Basic consumer key:secret."""
        s = self.settings
        if not s.consumer_key or not s.consumer_secret:
            raise ConfigError(
                "consumer_key (MPESA_CONSUMER_KEY) and consumer_secret (MPESA_CONSUMER_SECRET) "
                "are required to get a Daraja token"
            )
        basic = base64.b64encode(f"{s.consumer_key}:{s.consumer_secret}".encode()).decode()
        return httpx.Request(
            "GET",
            self.base_url + PATHS["token"],
            params={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )

    # -- STK push and query ----------------------------------------------------------------

    def password(self, timestamp: str) -> str:
        """Return the STK ``Password``: base64(short code + passkey + timestamp)."""
        short_code = self._short_code()
        if not self.settings.passkey:
            raise ConfigError("passkey (MPESA_PASSKEY) is required for M-Pesa Express")
        return base64.b64encode(f"{short_code}{self.settings.passkey}{timestamp}".encode()).decode()

    def timestamp(self) -> str:
        """Return now as Daraja's ``Timestamp``: Kenyan time, 24-hour, ``YYYYMMDDHHmmss``."""
        # Kenyan time whatever the process TZ: format_daraja_timestamp converts explicitly.
        return format_daraja_timestamp(self.clock())

    def build_stk_push(
        self,
        phone_number: str | int,
        amount: int | Decimal | str,
        account_reference: str,
        transaction_desc: str | None = None,
        *,
        callback_url: str | None = None,
    ) -> StkPushRequest:
        """Validate the arguments and build the STK push body.

        Raises:
            InvalidPhoneNumber, InvalidAmount, InvalidAccountReference,
            ValidationError: saying what to change.
            ConfigError: a setting needed for STK is missing.
        """
        s = self.settings
        phone = normalize_msisdn(phone_number)
        whole = self.stk_amount(amount)
        reference = validate_stk_account_reference(
            account_reference, max_length=s.account_reference_max_length
        )
        description = checks.transaction_desc(s, transaction_desc)
        url = self._stk_callback_url(callback_url)
        timestamp = self.timestamp()
        return StkPushRequest(
            business_short_code=self._short_code(),
            password=self.password(timestamp),
            timestamp=timestamp,
            transaction_type=s.transaction_kind.daraja_transaction_type,
            amount=whole,
            party_a=phone,
            party_b=s.party_b,
            phone_number=phone,
            callback_url=url,
            account_reference=reference,
            transaction_desc=description,
        )

    def stk_amount(self, amount: int | Decimal | str) -> int:
        """Return ``amount`` as whole shillings within the configured STK limits."""
        return checks.stk_amount(self.settings, amount)

    def _stk_callback_url(self, explicit: str | None) -> str:
        url = explicit if explicit is not None else self.settings.stk_callback_url
        if not url:
            raise ConfigError(
                "no STK callback URL: pass callback_url= or set MPESA_CALLBACK_BASE_URL "
                "(or MPESA_STK_PUSH_CALLBACK_URL)"
            )
        return checks.check_url("callback_url", url, https=self._production)

    @property
    def _production(self) -> bool:
        return self.settings.environment is Environment.PRODUCTION

    def _short_code(self) -> str:
        if not self.settings.business_short_code:
            raise ConfigError("business_short_code (MPESA_BUSINESS_SHORT_CODE) is required")
        return self.settings.business_short_code

    def build_stk_query(self, checkout_request_id: str) -> StkQueryRequest:
        """Build the STK Query body for ``checkout_request_id``."""
        checkout = (checkout_request_id or "").strip()
        if not checkout:
            raise ValidationError(
                "checkout_request_id is empty; expected the CheckoutRequestID of an STK push",
                field="checkout_request_id",
            )
        timestamp = self.timestamp()
        return StkQueryRequest(
            business_short_code=self._short_code(),
            password=self.password(timestamp),
            timestamp=timestamp,
            checkout_request_id=checkout,
        )

    # -- C2B --------------------------------------------------------------------------------

    def build_c2b_register(
        self,
        confirmation_url: str | None = None,
        validation_url: str | None = None,
        response_type: str | None = None,
        version: str | None = None,
    ) -> tuple[str, C2BRegisterRequest]:
        """Build the URL registration body and pick its path (``v1`` or ``v2``).

        Raises:
            ValidationError: a URL is missing, not http(s), or contains a word
                Safaricom refuses (the message names the word).
        """
        s = self.settings
        chosen = checks.register_version(s, version)
        kind = checks.register_response_type(s, response_type)
        confirmation = checks.c2b_url(
            "confirmation_url",
            confirmation_url,
            s.confirmation_url,
            "IPN_CONFIRMATION_URL",
            https=self._production,
        )
        validation = checks.c2b_url(
            "validation_url",
            validation_url,
            s.validation_url,
            "IPN_VALIDATION_URL",
            https=self._production,
        )
        return chosen, C2BRegisterRequest(
            short_code=self._short_code(),
            response_type=kind,
            confirmation_url=confirmation,
            validation_url=validation,
        )

    def build_c2b_simulate(
        self,
        amount: int | Decimal | str,
        msisdn: str | int,
        bill_ref_number: str,
        command_id: str = "CustomerPayBillOnline",
    ) -> C2BSimulateRequest:
        """Build a C2B simulation body (sandbox and simulator only)."""
        if self._production:
            raise ConfigError(
                "c2b_simulate works only against the sandbox or a simulator; "
                "MPESA_ENVIRONMENT is production"
            )
        if command_id not in _COMMAND_IDS:
            raise ValidationError(
                f"command_id {command_id!r} is not one of {', '.join(_COMMAND_IDS)}",
                field="command_id",
            )
        whole = checks.whole_amount(amount)
        return C2BSimulateRequest(
            short_code=self._short_code(),
            command_id=command_id,
            amount=whole,
            msisdn=normalize_msisdn(msisdn),
            bill_ref_number=(bill_ref_number or "").strip(),
        )

    # -- requests and answers ------------------------------------------------------------------

    def post(self, path: str, body: Any) -> httpx.Request:
        """Build ``POST base_url + path`` with ``body`` (a wire object) as JSON."""
        return httpx.Request(
            "POST",
            self.base_url + path,
            json=unstructure(body),
            headers={"Accept": "application/json"},
        )

    def read(self, response: httpx.Response, cls: type[T], operation: DarajaOperation) -> T:
        """Return ``response`` parsed as ``cls``, or raise the matching Daraja error.

        Raises:
            DarajaAPIError: an error body, or an error status.
            DarajaInvalidResponse: a success status without the documented JSON.
        """
        status = response.status_code
        try:
            data: dict[str, Any] | None = load_json(response.content)
        except PayloadError:
            data = None
        if data is not None and ("errorCode" in data or "errorMessage" in data):
            try:
                body = structure(data, DarajaErrorBody)
            except PayloadError as exc:
                raise self._invalid(response, operation, exc.message) from exc
            raise DarajaAPIError(
                operation=operation,
                status_code=status,
                error_code=body.error_code.strip(),
                error_message=body.error_message.strip(),
                request_id=body.request_id,
            )
        if status >= 400:
            raise DarajaAPIError(
                operation=operation,
                status_code=status,
                error_code="",
                error_message=_snippet(response) or response.reason_phrase,
            )
        if data is None:
            kind = response.headers.get("content-type", "no content type")
            raise self._invalid(response, operation, f"the answer is not JSON ({kind})")
        try:
            return structure(data, cls)
        except PayloadError as exc:
            raise self._invalid(response, operation, exc.message) from exc

    def read_token(self, response: httpx.Response) -> OAuthToken:
        """Return the OAuth answer (``expires_in`` as text or number)."""
        token = self.read(response, OAuthToken, DarajaOperation.TOKEN)
        if not token.access_token:
            raise self._invalid(response, DarajaOperation.TOKEN, "access_token is empty")
        return token

    def read_stk_push(self, response: httpx.Response) -> StkPushResponse:
        """Return the STK push answer; a ResponseCode other than "0" is a refusal."""
        answer = self.read(response, StkPushResponse, DarajaOperation.STK_PUSH)
        if not answer.accepted:
            raise DarajaAPIError(
                operation=DarajaOperation.STK_PUSH,
                status_code=response.status_code,
                error_code=answer.response_code,
                error_message=answer.response_description,
            )
        return answer

    def _invalid(
        self, response: httpx.Response, operation: DarajaOperation, problem: str
    ) -> DarajaInvalidResponse:
        return DarajaInvalidResponse(
            f"Daraja {operation} answered HTTP {response.status_code} that cannot be read: "
            f"{problem}; starts with {_snippet(response)!r}",
            operation=operation,
            status_code=response.status_code,
        )

    def transport_error(
        self, exc: httpx.TransportError, operation: DarajaOperation
    ) -> DarajaTransportError:
        """Translate an httpx transport failure, recording whether the request may have left."""
        name = type(exc).__name__
        # Connect failures and pool waits happen before a byte is sent: safe to repeat.
        not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        broken_setup = isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError)
        where = self.base_url
        if isinstance(exc, httpx.TimeoutException):
            return DarajaTimeout(
                f"Daraja {operation} timed out ({name}) at {where}",
                operation=operation,
                request_sent=not not_sent,
            )
        return DarajaConnectionError(
            f"Daraja {operation} failed to reach {where} ({name}: {exc})",
            operation=operation,
            request_sent=not (not_sent or broken_setup),
            retryable=not broken_setup,
        )
