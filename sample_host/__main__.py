"""``python -m sample_host``: start the sample insurer on 127.0.0.1 (port SAMPLE_HOST_PORT)."""

from __future__ import annotations

import errno
import logging
import socket
import sys

import uvicorn

from mpesa_daraja_kit.errors import ConfigError
from sample_host.app import SampleHost
from sample_host.config import DEFAULT_API_KEY, HostConfig


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"sample_host: port {port} is in use; set SAMPLE_HOST_PORT to another port "
                "(0 picks a free one)"
            ) from None
        raise
    return sock


def _announce(host: SampleHost) -> None:
    key = host.config.api_key
    note = " (the default)" if key == DEFAULT_API_KEY else ""
    lines = [
        "",
        f"  Sample insurer ready on {host.base_url}",
        f"  Operator page   {host.base_url}/#key={key}",
        f"  API key         {key}{note}: send it as X-API-Key (SAMPLE_HOST_API_KEY changes it)",
        f"  Swagger UI      {host.base_url}/docs",
        f"  OpenAPI         {host.base_url}/api/internal/mpesa/openapi.json",
        f"  Environment     {host.settings.environment.value}"
        + (" (Daraja simulator in-process, no credentials needed)" if host.simulator else ""),
        f"  Database        {host.engine.url.render_as_string(hide_password=True)}",
        "",
    ]
    print("\n".join(lines), flush=True)


def main() -> None:
    """Read the environment, bind the port, and serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = HostConfig.from_env()
        sock = _bind(config.host, config.port)
        port = sock.getsockname()[1]
        host = SampleHost(config, base_url=f"http://{config.host}:{port}", on_ready=_announce)
    except ConfigError as exc:
        print(f"sample_host: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ModuleNotFoundError as exc:  # e.g. DATABASE_URL=postgresql://… without asyncpg
        extra = {"asyncpg": "postgres", "asyncmy": "mysql"}.get(exc.name or "", "")
        hint = f"pip install -e '.[{extra}]'" if extra else "pip install the missing package"
        print(f"sample_host: {exc}; {hint}", file=sys.stderr)
        raise SystemExit(2) from None
    # proxy_headers=False: the kit reads X-Forwarded-For itself, from trusted proxies
    # only (MPESA_TRUSTED_PROXIES); uvicorn's default would rewrite the client address
    # from the header before the kit's guards see it (docs/security.md).
    config = uvicorn.Config(host.app, log_level="info", lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(3)


if __name__ == "__main__":
    main()
