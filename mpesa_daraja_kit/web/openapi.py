"""The OpenAPI document of both apps, built from the routes the kit actually serves.

``GET /openapi.json`` on the internal app answers it (the original plan, step 29):
every route of the public and the internal app with its request and response
schemas, Daraja's callbacks illustrated with real payloads (``web/examples/``,
copies of the test fixtures shipped as package data), and the public callbacks
marked unauthenticated (``security: []``) — Safaricom signs nothing.

Paths are absolute for the host: the internal prefix is where the request came
in (its ``root_path``); the public prefix is read from the callback URLs in the
settings (a callback path secret shows as ``{callbackPathSecret}``, never its
value). A route without a description here still appears, with its docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mpesa_daraja_kit.web.openapi_schemas import OPERATIONS, SCHEMAS, Operation, example

if TYPE_CHECKING:
    from mpesa_daraja_kit.web.context import KitContext

__all__ = [
    "DEFAULT_SECURITY_SCHEMES",
    "OPENAPI_VERSION",
    "build_openapi",
    "example",
    "openapi_routes",
    "public_prefix",
]

OPENAPI_VERSION = "3.0.3"

DEFAULT_SECURITY_SCHEMES: Mapping[str, Any] = {
    "hostAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Whatever the host's `mpesa_authenticate` hook accepts "
        "(the sample host: its `X-API-Key`).",
    }
}

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def public_prefix(kit: KitContext) -> str:
    """Return where the host mounted the public app, read from the callback URL settings."""
    settings = kit.settings
    base = settings.callback_base_url
    if not base:
        stk = settings.stk_push_callback_url
        base = stk.removesuffix("/stk-push/callback") if stk else ""
        if settings.callback_path_secret and base.endswith(settings.callback_path_secret):
            base = base.removesuffix(settings.callback_path_secret).rstrip("/")
    path = urlsplit(base).path.rstrip("/") if base else ""
    if settings.callback_path_secret:
        path += "/{callbackPathSecret}"
    return path


def _kit_version() -> str:
    try:
        return metadata.version("mpesa_daraja_kit")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _template(path: str) -> str:
    """Return a Starlette path as an OpenAPI template (``{id:uuid}`` → ``{id}``)."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _operation(route: Route, method: str, *, public: bool) -> dict[str, Any]:
    """Return the OpenAPI operation for one route and method."""
    key = (method, _template(route.path))
    described: Operation | None = OPERATIONS.get(key)
    if described is None:
        doc = (route.endpoint.__doc__ or "").strip().splitlines()
        summary = doc[0] if doc else (route.name or route.path)
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {"200": {"description": "OK"}},
        }
    else:
        op = json.loads(json.dumps(described.spec))  # a deep copy callers may change
    op.setdefault("tags", ["M-Pesa callbacks" if public else "M-Pesa internal"])
    if route.name:
        op["operationId"] = f"{'public' if public else 'internal'}_{route.name}"
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(route.path)
    ]
    if params:
        known = {p["name"] for p in op.get("parameters", [])}
        op["parameters"] = [p for p in params if p["name"] not in known] + op.get("parameters", [])
    if public:
        op["security"] = []  # Safaricom cannot authenticate: these must stay open
    elif key != ("GET", "/openapi.json"):
        op["security"] = [{"hostAuth": []}]
        op["responses"].setdefault("401", {"$ref": "#/components/responses/Unauthenticated"})
    return op


def _routes(routes: Iterable[BaseRoute]) -> Iterable[tuple[Route, str]]:
    for route in routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield route, method


def build_openapi(
    kit: KitContext,
    *,
    internal_prefix: str = "",
    public_prefix_path: str | None = None,
    public_routes: Iterable[BaseRoute] | None = None,
    internal_routes: Iterable[BaseRoute] | None = None,
    title: str = "M-Pesa Daraja kit",
    version: str | None = None,
    security_schemes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the OpenAPI 3.0 document of the kit's public and internal apps.

    Args:
        kit: the kit (its apps' routes and settings are read).
        internal_prefix: where the internal app is mounted (``/api/internal/mpesa``).
        public_prefix_path: where the public app is mounted (default: from the
            callback URL settings, see :func:`public_prefix`).
        public_routes, internal_routes: the routes to describe (default: the kit's apps).
        title, version: the document's ``info``.
        security_schemes: the internal app's auth (default: an ``X-API-Key`` header).
    """
    if public_routes is None:
        public_routes = getattr(kit, "public_app").routes  # noqa: B009 - not in KitContext
    if internal_routes is None:
        internal_routes = getattr(kit, "internal_app").routes  # noqa: B009
    pub = public_prefix(kit) if public_prefix_path is None else public_prefix_path.rstrip("/")
    internal = internal_prefix.rstrip("/")
    paths: dict[str, dict[str, Any]] = {}
    for routes, prefix, public in ((public_routes, pub, True), (internal_routes, internal, False)):
        for route, method in _routes(routes):
            path = prefix + _template(route.path)
            operation = _operation(route, method, public=public)
            if public and "{callbackPathSecret}" in path:
                operation.setdefault("parameters", []).insert(
                    0,
                    {
                        "name": "callbackPathSecret",
                        "in": "path",
                        "required": True,
                        "description": "The secret path segment (MPESA_CALLBACK_PATH_SECRET).",
                        "schema": {"type": "string"},
                    },
                )
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version or _kit_version(),
            "description": (
                "M-Pesa Daraja payments for this host. The **public** routes are Safaricom's "
                "callbacks: unauthenticated, they answer `ResultCode` 0 as soon as the raw body "
                "is stored. The **internal** routes are for the host's staff and are "
                "authenticated by the host's `mpesa_authenticate` hook."
            ),
        },
        "tags": [
            {"name": "M-Pesa IPN", "description": "C2B confirmation and validation (public)."},
            {"name": "M-Pesa STK Push", "description": "M-Pesa Express prompts and callback."},
            {"name": "M-Pesa statements", "description": "Org-portal statement uploads."},
            {"name": "M-Pesa payments", "description": "Money received, from every source."},
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": dict(security_schemes or DEFAULT_SECURITY_SCHEMES),
            "responses": {
                "Unauthenticated": {
                    "description": "No or wrong credentials (`unauthenticated`).",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
    }


def openapi_routes(kit: KitContext) -> list[BaseRoute]:
    """Return ``GET /openapi.json`` for the internal app (no authentication: no data in it)."""

    async def openapi(request: Request) -> Response:
        """The OpenAPI document of the public and internal apps."""
        document = build_openapi(kit, internal_prefix=request.scope.get("root_path", ""))
        return JSONResponse(document)

    return [Route("/openapi.json", openapi, methods=["GET"], name="openapi")]
