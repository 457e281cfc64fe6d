"""Daraja OAuth as an ``httpx.Auth``: one cached token, refreshed early, fetched once at a time.

Daraja tokens live about an hour (``expires_in`` ``"3599"``) and a new one
may invalidate the previous one (DARAJA.md, Hosts and auth), so every
caller — every coroutine, thread and, through a shared :class:`TokenCache`,
every worker — should use the same token:

- the token is cached and refreshed ``refresh_margin`` seconds before it
  expires (at most half its lifetime early);
- concurrent callers that find no fresh token share one in-flight fetch
  (single flight), in async and in threaded sync use alike;
- an answer ``404.001.03`` (invalid token) makes the flow refresh once and
  send the request again, once.

The cache is pluggable. A cache must implement :class:`TokenCache` (async,
for :class:`AsyncDarajaAuth`) or :class:`SyncTokenCache` (for
:class:`DarajaAuth`); :class:`InMemoryTokenCache` and
:class:`SyncInMemoryTokenCache` are the per-process defaults.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs
import httpx

from mpesa_daraja_kit.clock import Clock, ensure_aware_utc, utc_now
from mpesa_daraja_kit.wire import OAuthToken, load_json

__all__ = [
    "AsyncDarajaAuth",
    "CachedToken",
    "DarajaAuth",
    "InMemoryTokenCache",
    "SyncInMemoryTokenCache",
    "SyncTokenCache",
    "TokenCache",
]

log = logging.getLogger("mpesa_daraja_kit.client")

INVALID_TOKEN_CODE = "404.001.03"  # noqa: S105 - an error code, not a secret
_DEFAULT_LIFETIME = 3600.0


def _hidden(value: object) -> str:
    return "'***'"


def _aware_expiry(value: datetime) -> datetime:
    return ensure_aware_utc(value, field="expires_at")


@attrs.frozen
class CachedToken:
    """An access token and the moment Daraja said it expires (aware UTC)."""

    access_token: str = attrs.field(repr=_hidden)
    expires_at: datetime = attrs.field(converter=_aware_expiry)


@runtime_checkable
class TokenCache(Protocol):
    """Where :class:`AsyncDarajaAuth` keeps the token, possibly shared by many workers.

    ``key`` names the Daraja app (a hash of its base URL and consumer key,
    never a secret); keep one entry per key. Implementations must be safe to
    call concurrently; they need not lock across workers.
    """

    async def get(self, key: str) -> CachedToken | None:
        """Return the stored token for ``key`` (expired or not), or None."""

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` for ``key``, replacing any previous one."""

    async def invalidate(self, key: str, access_token: str) -> None:
        """Forget the token for ``key`` if it is still ``access_token`` (leave a newer one)."""


@runtime_checkable
class SyncTokenCache(Protocol):
    """The blocking twin of :class:`TokenCache`, used by :class:`DarajaAuth`."""

    def get(self, key: str) -> CachedToken | None:
        """Return the stored token for ``key`` (expired or not), or None."""

    def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` for ``key``, replacing any previous one."""

    def invalidate(self, key: str, access_token: str) -> None:
        """Forget the token for ``key`` if it is still ``access_token`` (leave a newer one)."""


class SyncInMemoryTokenCache:
    """A thread-safe, process-local :class:`SyncTokenCache`."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedToken | None:
        """Return the stored token for ``key``, or None."""
        with self._lock:
            return self._tokens.get(key)

    def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` for ``key``."""
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: str, access_token: str) -> None:
        """Forget the token for ``key`` if it is still ``access_token``."""
        with self._lock:
            current = self._tokens.get(key)
            if current is not None and current.access_token == access_token:
                del self._tokens[key]


class InMemoryTokenCache:
    """A process-local :class:`TokenCache` (the async default)."""

    def __init__(self) -> None:
        self._store = SyncInMemoryTokenCache()

    async def get(self, key: str) -> CachedToken | None:
        """Return the stored token for ``key``, or None."""
        return self._store.get(key)

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` for ``key``."""
        self._store.set(key, token)

    async def invalidate(self, key: str, access_token: str) -> None:
        """Forget the token for ``key`` if it is still ``access_token``."""
        self._store.invalidate(key, access_token)


def is_invalid_token_answer(response: httpx.Response) -> bool:
    """Tell whether ``response`` is Daraja's ``404.001.03`` invalid/expired token answer."""
    if response.status_code < 400:
        return False
    try:
        body = load_json(response.content)
    except ValueError:
        return False
    return str(body.get("errorCode", "")).strip() == INVALID_TOKEN_CODE


class _TokenPolicy:
    """Freshness rules shared by the async and sync auth."""

    def __init__(self, key: str, refresh_margin: float, clock: Clock) -> None:
        self.key = key
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.lifetime = _DEFAULT_LIFETIME

    def fresh(self, cached: CachedToken | None, *, not_token: str | None = None) -> bool:
        if cached is None or cached.access_token == not_token:
            return False
        # Never refresh earlier than half a lifetime, or a short-lived token
        # would be fetched again on every call.
        margin = min(self.refresh_margin, self.lifetime / 2)
        return self.clock() + timedelta(seconds=margin) < cached.expires_at

    def to_cache(self, token: OAuthToken) -> CachedToken:
        self.lifetime = float(max(token.expires_in, 0))
        return CachedToken(token.access_token, self.clock() + timedelta(seconds=token.expires_in))


class AsyncDarajaAuth(httpx.Auth):
    """Bearer-token auth for ``httpx.AsyncClient`` with a shared, single-flight token.

    Args:
        fetch: coroutine function returning a new :class:`OAuthToken` (the
            client passes its own, which already retries).
        cache: where the token is kept (default: a new :class:`InMemoryTokenCache`).
        key: the cache key for this Daraja app.
        refresh_margin: seconds before expiry at which the token is renewed.
        clock: returns aware UTC now (injectable in tests).
    """

    requires_response_body = True

    def __init__(
        self,
        fetch: Callable[[], Awaitable[OAuthToken]],
        *,
        cache: TokenCache | None = None,
        key: str = "default",
        refresh_margin: float = 300.0,
        clock: Clock = utc_now,
    ) -> None:
        self._fetch = fetch
        self._cache: TokenCache = cache if cache is not None else InMemoryTokenCache()
        self._policy = _TokenPolicy(key, refresh_margin, clock)
        self._flight: asyncio.Future[str] | None = None

    async def get_token(self) -> str:
        """Return a fresh access token, fetching one (once, for all callers) if needed."""
        cached = await self._cache.get(self._policy.key)
        if self._policy.fresh(cached):
            assert cached is not None
            return cached.access_token
        return await self.refresh()

    async def refresh(self, stale: str | None = None) -> str:
        """Return a new token, joining a fetch already in flight; ``stale`` is never returned."""
        token = ""
        for _ in range(2):
            flight = self._flight
            # A flight left behind by a closed event loop (a test's, a restarted app's) is dead.
            if flight is None or flight.get_loop() is not asyncio.get_running_loop():
                flight = asyncio.ensure_future(self._lead(stale))
                self._flight = flight
                flight.add_done_callback(self._landed)
            # shield: one caller giving up must not cancel the fetch the others wait for.
            token = await asyncio.shield(flight)
            if stale is None or token != stale:
                return token
        return token

    def _landed(self, flight: asyncio.Future[str]) -> None:
        if self._flight is flight:
            self._flight = None
        if not flight.cancelled():
            flight.exception()  # retrieved: waiters that gave up leave no warning behind

    async def _lead(self, stale: str | None) -> str:
        cached = await self._cache.get(self._policy.key)
        if self._policy.fresh(cached, not_token=stale):
            assert cached is not None
            return cached.access_token  # another caller or worker refreshed already
        if stale is not None:
            await self._cache.invalidate(self._policy.key, stale)
        log.info("fetching a Daraja access token")
        entry = self._policy.to_cache(await self._fetch())
        await self._cache.set(self._policy.key, entry)
        return entry.access_token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send ``request`` with the token; on ``404.001.03`` refresh once and resend once."""
        token = await self.get_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        # This flow replaces httpx's default one, which is what honours requires_response_body.
        await response.aread()
        if is_invalid_token_answer(response):
            log.warning("Daraja refused the access token (404.001.03); refreshing once")
            request.headers["Authorization"] = f"Bearer {await self.refresh(stale=token)}"
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Refuse sync use: pair :class:`DarajaAuth` with a blocking client."""
        raise RuntimeError("AsyncDarajaAuth works with httpx.AsyncClient; use DarajaAuth")
        yield request  # pragma: no cover - makes this a generator


class _SyncFlight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.token = ""
        self.error: BaseException | None = None


class DarajaAuth(httpx.Auth):
    """Bearer-token auth for a blocking ``httpx.Client``; thread-safe, single-flight.

    Arguments as :class:`AsyncDarajaAuth`, with a blocking ``fetch`` and a
    :class:`SyncTokenCache`.
    """

    requires_response_body = True

    def __init__(
        self,
        fetch: Callable[[], OAuthToken],
        *,
        cache: SyncTokenCache | None = None,
        key: str = "default",
        refresh_margin: float = 300.0,
        clock: Clock = utc_now,
    ) -> None:
        self._fetch = fetch
        self._cache: SyncTokenCache = cache if cache is not None else SyncInMemoryTokenCache()
        self._policy = _TokenPolicy(key, refresh_margin, clock)
        self._mutex = threading.Lock()
        self._flight: _SyncFlight | None = None

    def get_token(self) -> str:
        """Return a fresh access token, fetching one (once, for all threads) if needed."""
        cached = self._cache.get(self._policy.key)
        if self._policy.fresh(cached):
            assert cached is not None
            return cached.access_token
        return self.refresh()

    def refresh(self, stale: str | None = None) -> str:
        """Return a new token, joining a fetch already in flight; ``stale`` is never returned."""
        token = ""
        for _ in range(2):
            with self._mutex:
                flight = self._flight
                leader = flight is None
                if flight is None:
                    flight = self._flight = _SyncFlight()
            if leader:
                try:
                    flight.token = self._lead(stale)
                except BaseException as exc:
                    flight.error = exc
                    raise
                finally:
                    with self._mutex:
                        self._flight = None
                    flight.done.set()
            else:
                flight.done.wait()
                if flight.error is not None:
                    raise flight.error
            token = flight.token
            if stale is None or token != stale:
                return token
        return token

    def _lead(self, stale: str | None) -> str:
        cached = self._cache.get(self._policy.key)
        if self._policy.fresh(cached, not_token=stale):
            assert cached is not None
            return cached.access_token
        if stale is not None:
            self._cache.invalidate(self._policy.key, stale)
        log.info("fetching a Daraja access token")
        entry = self._policy.to_cache(self._fetch())
        self._cache.set(self._policy.key, entry)
        return entry.access_token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Send ``request`` with the token; on ``404.001.03`` refresh once and resend once."""
        token = self.get_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        response.read()  # see AsyncDarajaAuth.async_auth_flow
        if is_invalid_token_answer(response):
            log.warning("Daraja refused the access token (404.001.03); refreshing once")
            request.headers["Authorization"] = f"Bearer {self.refresh(stale=token)}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Refuse async use: pair :class:`AsyncDarajaAuth` with an async client."""
        raise RuntimeError("DarajaAuth works with httpx.Client; use AsyncDarajaAuth")
        yield request  # pragma: no cover - makes this an async generator
