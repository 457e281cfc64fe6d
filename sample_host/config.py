"""The sample host's own settings (``SAMPLE_HOST_*``, ``DATABASE_URL``) and the kit's.

The kit reads its ``MPESA_*`` variables itself. The sample host only fills in
what a developer's machine lacks: the ``simulator`` environment by default, the
in-process simulator as Daraja, and callback URLs pointing at itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs
from sqlalchemy import make_url

from mpesa_daraja_kit.config import Environment, Settings
from mpesa_daraja_kit.errors import ConfigError

__all__ = [
    "DEFAULT_API_KEY",
    "PUBLIC_MOUNT",
    "SIMULATOR_MOUNT",
    "HostConfig",
    "async_database_url",
    "kit_settings",
]

DEFAULT_API_KEY = "dev-key"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///sample_host.db"
PUBLIC_MOUNT = "/api/public/mpesa"
INTERNAL_MOUNT = "/api/internal/mpesa"
NEUTRAL_PUBLIC_MOUNT = "/hooks/daraja"
SIMULATOR_MOUNT = "/daraja-simulator"
HEALTH_MOUNT = "/health"

# Users paste the URL their tools print; the kit needs an async driver.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
}


def async_database_url(url: str) -> str:
    """Return ``url`` with an async driver (``postgresql://`` → ``postgresql+asyncpg://``).

    Raises:
        ConfigError: the URL is not one of SQLite, PostgreSQL, MySQL/MariaDB.
    """
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy raises several kinds
        raise ConfigError(
            f"DATABASE_URL {url[:60]!r} is not a database URL; expected e.g. "
            "postgresql://user@host/db or sqlite:///sample_host.db"
        ) from None
    if "+" in parsed.drivername:
        return url
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"DATABASE_URL uses {parsed.drivername!r}; expected sqlite, postgresql or mysql/mariadb"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    raw = environ.get(name, "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a {kind.__name__} number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name}: expected a number ≥ 0, got {raw!r}")
    return value


@attrs.frozen(kw_only=True)
class HostConfig:
    """What the sample host itself needs to start."""

    host: str = "127.0.0.1"
    port: int = 8000
    """``SAMPLE_HOST_PORT``; 0 lets the system pick a free port."""
    api_key: str = DEFAULT_API_KEY
    """``SAMPLE_HOST_API_KEY``: the ``X-API-Key`` the operator page and API clients send."""
    database_url: str = DEFAULT_DATABASE_URL
    """``DATABASE_URL``: SQLite by default; PostgreSQL or MariaDB work too."""
    simulator_delay: float = 3.0
    """``SAMPLE_HOST_SIMULATOR_DELAY``: seconds the simulated customer takes to answer."""
    seed: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HostConfig:
        """Read ``SAMPLE_HOST_*`` and ``DATABASE_URL`` (unset ones keep their defaults)."""
        env = os.environ if environ is None else environ
        port = _number(env, "SAMPLE_HOST_PORT", 8000, int)
        if port > 65535:
            raise ConfigError(f"SAMPLE_HOST_PORT: expected 0 to 65535, got {port}")
        api_key = env.get("SAMPLE_HOST_API_KEY", "").strip() or DEFAULT_API_KEY
        database = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
        return cls(
            port=port,
            api_key=api_key,
            database_url=async_database_url(database),
            simulator_delay=_number(env, "SAMPLE_HOST_SIMULATOR_DELAY", 3.0, float),
            seed=env.get("SAMPLE_HOST_SEED", "1").strip().lower() not in ("0", "false", "no"),
        )


def kit_settings(base_url: str, environ: Mapping[str, str] | None = None) -> tuple[Settings, bool]:
    """Return the kit's settings and whether to run the simulator in-process.

    ``MPESA_ENVIRONMENT`` defaults to ``simulator``. There, unless
    ``MPESA_BASE_URL`` names another Daraja (``mpesa-kit simulator``), the
    simulator runs inside the host under ``/daraja-simulator``, and the callback
    URLs default to this host's public mount.
    """
    env = dict(os.environ if environ is None else environ)
    env.setdefault("MPESA_ENVIRONMENT", Environment.SIMULATOR.value)
    overrides: dict[str, Any] = {}
    in_process = False
    if env["MPESA_ENVIRONMENT"].strip().lower() == Environment.SIMULATOR.value:
        if not env.get("MPESA_BASE_URL", "").strip():
            overrides["base_url"] = f"{base_url}{SIMULATOR_MOUNT}"
            in_process = True
        callbacks = ("MPESA_CALLBACK_BASE_URL", "MPESA_STK_PUSH_CALLBACK_URL")
        if not any(env.get(name, "").strip() for name in callbacks):
            overrides["callback_base_url"] = f"{base_url}{PUBLIC_MOUNT}"
    return Settings.from_env(env, **overrides), in_process
