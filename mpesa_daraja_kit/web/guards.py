"""Callback guards: pure ASGI middleware in front of the public app.

Safaricom signs no callback (DARAJA.md, Security and delivery), so anyone who
learns a callback URL can post to it. The kit defends the public app itself,
with guards composed in one visible list (:func:`callback_guards`), outermost
first:

1. :class:`ClientAddressGuard` — works out the real client address (the peer,
   or ``X-Forwarded-For`` read from the right end, but only when the peer is a
   configured trusted proxy) and refuses addresses outside the allowlist: 403.
   Where an allowlist applies, a request carrying a proxy header
   (``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``) whose peer is not a trusted
   proxy is refused too: the kit cannot prove where it came from, because the
   server in front (uvicorn's ``--proxy-headers``, on by default for 127.0.0.1)
   may already have rewritten the peer from that very header.
2. :class:`PathSecretGuard` — with ``callback_path_secret`` set, every path must
   start with the secret segment (compared in constant time), which is then
   moved into ``root_path`` so the routes stay the same: 403 otherwise.
3. :class:`BodyGuard` — the body must be JSON (415) and no larger than
   ``callback_max_bytes`` (413; judged from ``Content-Length`` when given, and
   counted while reading, so an oversized body is never read in full).

Every refusal is logged on ``mpesa_daraja_kit.security`` with the source address
and stored in the callback log with outcome ``REFUSED`` (a bounded prefix of
the body) — never as a payment.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import uuid
from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mpesa_daraja_kit.config import Environment, Network, Settings, parse_networks
from mpesa_daraja_kit.enums import CallbackKind
from mpesa_daraja_kit.errors import ErrorCode
from mpesa_daraja_kit.services.refusals import Refusal, RefusalLog

__all__ = [
    "CLIENT_ADDRESS_KEY",
    "BodyGuard",
    "ClientAddressGuard",
    "PathSecretGuard",
    "Refuser",
    "allowlist_for",
    "callback_guards",
    "resolve_client_address",
]

log = logging.getLogger("mpesa_daraja_kit.security")

CLIENT_ADDRESS_KEY = "mpesa.client_address"
"""The scope key holding the resolved client address (read by ``context.source_address``)."""

# Genuine callbacks are about 1 KiB; this much of a refused body is kept for the operator.
REFUSED_PREFIX_BYTES = 4096

# Headers by which a proxy tells the client address (ASGI header names are lower case).
_PROXY_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})

_KINDS_BY_SUFFIX = (
    ("/stk-push/callback", CallbackKind.STK_CALLBACK),
    ("/confirmation", CallbackKind.C2B_CONFIRMATION),
    ("/validation", CallbackKind.C2B_VALIDATION),
)


def allowlist_for(settings: Settings) -> tuple[Network, ...] | None:
    """Return the networks allowed to post callbacks, or None when any address may.

    An empty setting means the published Safaricom list in production and no
    check elsewhere (the sandbox and the simulator call from other addresses).
    """
    text = settings.callback_allowlist.strip()
    if not text:
        text = "safaricom" if settings.environment is Environment.PRODUCTION else "any"
    return parse_networks(text, keywords=True)


def callback_guards(settings: Settings, refusals: RefusalLog | None = None) -> list[Middleware]:
    """Return the public app's guards, outermost first (see the module docstring)."""
    refuser = Refuser(refusals)
    return [
        Middleware(
            ClientAddressGuard,
            allowlist=allowlist_for(settings),
            trusted_proxies=parse_networks(settings.trusted_proxies) or (),
            refuser=refuser,
        ),
        Middleware(PathSecretGuard, secret=settings.callback_path_secret, refuser=refuser),
        Middleware(BodyGuard, max_bytes=settings.callback_max_bytes, refuser=refuser),
    ]


# -- refusing ------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", []) if k.lower() == name]
    return values[0].decode("latin-1") if values else None


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


def _kind(scope: Scope) -> CallbackKind | None:
    if scope.get("method") != "POST":
        return None
    path = _route_path(scope).rstrip("/")
    for suffix, kind in _KINDS_BY_SUFFIX:
        if path.endswith(suffix):
            return kind
    return None


async def _read_prefix(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """Read at most about ``limit`` bytes of the body; tell whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)[:limit], False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            body = b"".join(chunks)
            return body[:limit], len(body) <= limit
    return b"".join(chunks)[:limit], False


_DIGITS = re.compile(r"[0-9]+")


class Refuser:
    """Answer a refused request, log it as a security event and keep it as REFUSED."""

    def __init__(self, refusals: RefusalLog | None, prefix_bytes: int = REFUSED_PREFIX_BYTES):
        self._refusals = refusals
        self._prefix_bytes = prefix_bytes

    async def refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        status: int,
        code: ErrorCode,
        message: str,
        body: tuple[bytes, bool] | None = None,
    ) -> None:
        """Send ``status`` with ``{"error": {"code", "message"}}`` after recording the refusal."""
        source = scope.get(CLIENT_ADDRESS_KEY) or _peer(scope)
        kind = _kind(scope)
        given = (_header(scope, b"x-correlation-id") or "").strip()[:64]
        correlation = given or uuid.uuid4().hex
        log.warning(
            "callback refused: %s",
            code.value,
            extra={
                "security_event": "callback_refused",
                "reason": code.value,
                "status": status,
                "source_address": source,
                "callback_kind": kind.value if kind else None,
                "method": scope.get("method"),
                "correlation_id": correlation,
            },
        )
        if kind is not None and self._refusals is not None:
            if body is None:
                body = await _read_prefix(receive, self._prefix_bytes)
            prefix, complete = body
            try:
                await self._refusals.record(
                    Refusal(
                        kind=kind,
                        body_prefix=prefix[: self._prefix_bytes],
                        body_complete=complete and len(prefix) <= self._prefix_bytes,
                        reason=code.value,
                        message=message,
                        content_type=_header(scope, b"content-type"),
                        source_address=source,
                        correlation_id=correlation,
                    )
                )
            except Exception:
                # The answer to a refused caller never depends on the database.
                log.exception("could not store a refused callback")
        response = JSONResponse(
            {"error": {"code": code.value, "message": message}},
            status_code=status,
            headers={"X-Correlation-ID": correlation},
        )
        await response(scope, receive, send)


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


# -- 1. the client address -------------------------------------------------------------


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = text.strip().strip('"')
    if value.startswith("["):  # "[2001:db8::1]:443"
        value = value[1 : value.find("]")] if "]" in value else value
    elif value.count(":") == 1:  # "196.201.214.200:51234"
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _within(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def resolve_client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[Network]
) -> str | None:
    """Return the address of the client that made the request.

    ``X-Forwarded-For`` is honoured only when the peer is a trusted proxy, and
    read from the right end: each trusted proxy appends the address it saw, so
    the rightmost entry that is not a trusted proxy is the client. Entries to
    its left were written by the client itself and prove nothing.
    """
    peer_ip = _parse_ip(peer) if peer else None
    if peer_ip is None or not _within(peer_ip, trusted_proxies):
        return str(peer_ip) if peer_ip is not None else peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    if not hops:
        return str(peer_ip)
    for hop in reversed(hops):
        ip = _parse_ip(hop)
        if ip is None:
            return hop[:64]  # not an address: refused by any allowlist
        if not _within(ip, trusted_proxies):
            return str(ip)
    first = _parse_ip(hops[0])
    return str(first) if first is not None else hops[0][:64]


class ClientAddressGuard:
    """Resolve the client address into the scope; refuse addresses outside the allowlist."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowlist: Sequence[Network] | None,
        trusted_proxies: Sequence[Network],
        refuser: Refuser,
    ) -> None:
        self.app = app
        self.allowlist = allowlist
        self.trusted_proxies = tuple(trusted_proxies)
        self.refuser = refuser

    def _peer_is_trusted(self, peer: str | None) -> bool:
        ip = _parse_ip(peer) if peer else None
        return ip is not None and _within(ip, self.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
        peer = _peer(scope)
        address = resolve_client_address(peer, forwarded, self.trusted_proxies)
        scope[CLIENT_ADDRESS_KEY] = address
        if self.allowlist is not None:
            if not self._peer_is_trusted(peer) and any(k in _PROXY_HEADERS for k, _ in headers):
                # The peer may itself come from the header: record it as a claim.
                scope[CLIENT_ADDRESS_KEY] = f"{address} (unproven)"[:64] if address else None
                await self.refuser.refuse(
                    scope,
                    receive,
                    send,
                    status=403,
                    code=ErrorCode.CALLBACK_UNTRUSTED_FORWARDING,
                    message="this request was forwarded by a proxy the kit does not trust; "
                    "set MPESA_TRUSTED_PROXIES to the proxy's address and let the kit, not "
                    "the server, read X-Forwarded-For (uvicorn --no-proxy-headers)",
                )
                return
            ip = _parse_ip(address) if address else None
            if ip is None or not _within(ip, self.allowlist):
                await self.refuser.refuse(
                    scope,
                    receive,
                    send,
                    status=403,
                    code=ErrorCode.CALLBACK_ADDRESS_NOT_ALLOWED,
                    message="this address may not post M-Pesa callbacks",
                )
                return
        await self.app(scope, receive, send)


# -- 2. the path secret ----------------------------------------------------------------


class PathSecretGuard:
    """Require ``/{secret}/…`` (constant-time compare) and hide the segment from the routes."""

    def __init__(self, app: ASGIApp, *, secret: str, refuser: Refuser) -> None:
        self.app = app
        self.secret = secret.encode()
        self.refuser = refuser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.secret:
            await self.app(scope, receive, send)
            return
        segment, slash, _ = _route_path(scope).lstrip("/").partition("/")
        if slash and hmac.compare_digest(segment.encode(), self.secret):
            # The routes match what follows the secret: move it into root_path.
            scope["root_path"] = f"{scope.get('root_path', '')}/{segment}"
            await self.app(scope, receive, send)
            return
        await self.refuser.refuse(
            scope,
            receive,
            send,
            status=403,
            code=ErrorCode.CALLBACK_WRONG_PATH_SECRET,
            message="this callback URL is not known",
        )


# -- 3. the body -----------------------------------------------------------------------


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BodyGuard:
    """Refuse non-JSON bodies (415) and bodies over ``max_bytes`` (413), never read whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, refuser: Refuser) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuser = refuser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if (
            declared is not None
            and _DIGITS.fullmatch(declared.strip())
            and int(declared) > self.max_bytes
        ):
            await self._too_large(scope, receive, send, None)
            return
        content_type = _header(scope, b"content-type")
        if not _is_json(content_type):
            await self.refuser.refuse(
                scope,
                receive,
                send,
                status=415,
                code=ErrorCode.CALLBACK_UNSUPPORTED_MEDIA_TYPE,
                message="callbacks must be sent as application/json",
            )
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send, (b"".join(chunks), False))
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, body: tuple[bytes, bool] | None
    ) -> None:
        await self.refuser.refuse(
            scope,
            receive,
            send,
            status=413,
            code=ErrorCode.CALLBACK_TOO_LARGE,
            message=f"callback bodies may not exceed {self.max_bytes} bytes",
            body=body,
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """Return a ``receive`` that hands the app the body already read, then the original."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
