"""Swagger UI at ``/docs``, from the files the ``swagger-ui-bundle`` package ships (no CDN)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["docs_routes", "swagger_ui_dir"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Sample insurer: M-Pesa API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    // The operator page keeps the API key in this tab's session storage; send it along.
    window.ui = SwaggerUIBundle({
      url: "/api/internal/mpesa/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      requestInterceptor: (req) => {
        const key = sessionStorage.getItem("sampleHostApiKey");
        if (key && !req.headers["X-API-Key"]) req.headers["X-API-Key"] = key;
        return req;
      },
    });
  </script>
</body>
</html>
"""


def swagger_ui_dir() -> Path | None:
    """Return the folder of Swagger UI's files, or None when the package is missing."""
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]
    except ImportError:
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


def docs_routes() -> list[BaseRoute]:
    """Return ``/docs`` and its assets."""
    folder = swagger_ui_dir()

    async def page(request: Request) -> Response:
        if folder is None:
            return PlainTextResponse(
                "Swagger UI is not installed: pip install -e '.[sample]' "
                "(./dev sample-host does). The document itself is at "
                "/api/internal/mpesa/openapi.json",
                status_code=503,
            )
        return HTMLResponse(_PAGE)

    routes: list[BaseRoute] = [Route("/docs", page, name="docs")]
    if folder is not None:
        routes.append(Mount("/docs/assets", StaticFiles(directory=folder), name="docs_assets"))
    return routes
