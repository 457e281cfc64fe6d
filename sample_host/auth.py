"""The insurer's API-key middleware, with the kit's public callbacks on its skip list.

Safaricom cannot send an API key, so the callback paths must be exempt (the
original plan, steps 9 and 13, added them to the middleware's skip list). The
host exempts whole public mounts rather than single paths, so a callback the
kit adds later is not locked out by accident.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PUBLIC_PREFIXES", "ApiKeyMiddleware", "is_protected"]

# Mount prefixes of the kit's public app (both spellings the original plan lists, and
# the neutral prefix a production Daraja registration needs).
PUBLIC_PREFIXES = ("/api/public/mpesa/", "/public/mpesa/", "/hooks/daraja/")
# Documents without data: the operator page and Swagger UI read them before any key.
OPEN_PATHS = ("/api/internal/mpesa/openapi.json",)


def is_protected(path: str) -> bool:
    """Tell whether ``path`` needs the API key: the host's ``/api/`` except public callbacks."""
    if not path.startswith("/api/"):
        return False  # the operator page, its assets, Swagger UI, the local simulator
    if path in OPEN_PATHS:
        return False
    return not any(path.startswith(prefix) for prefix in PUBLIC_PREFIXES)


def _needs_key(scope: Scope) -> bool:
    """Judge the path as the routes see it, below any root path (``uvicorn --root-path``).

    The server puts the root path in front of ``scope["path"]``; judged as it is,
    ``/office/api/policies`` would not start with ``/api/`` and would pass without
    a key. Protected if either spelling says so.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return is_protected(path[len(root) :] or "/") or is_protected(path)
    return is_protected(path)


class ApiKeyMiddleware:
    """Refuse ``/api/`` requests without the right ``X-API-Key`` (401, JSON)."""

    def __init__(self, app: ASGIApp, api_key: str, header: str = "X-API-Key") -> None:
        self.app = app
        self.api_key = api_key.encode()
        self.header = header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _needs_key(scope):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == self.header), b"")
        if given and hmac.compare_digest(given, self.api_key):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": {
                    "code": "unauthenticated",
                    "message": "send the X-API-Key header with the key the sample host printed "
                    "at start (SAMPLE_HOST_API_KEY, default dev-key)",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
