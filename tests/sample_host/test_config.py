"""The sample host's configuration: environment variables and database URLs."""

from __future__ import annotations

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from mpesa_daraja_kit.config import Environment
from mpesa_daraja_kit.errors import ConfigError
from sample_host.auth import ApiKeyMiddleware, is_protected
from sample_host.config import HostConfig, async_database_url, kit_settings


def test_defaults() -> None:
    config = HostConfig.from_env({})
    assert (config.host, config.port, config.api_key) == ("127.0.0.1", 8000, "dev-key")
    assert config.database_url == "sqlite+aiosqlite:///sample_host.db"


def test_environment_overrides() -> None:
    config = HostConfig.from_env(
        {
            "SAMPLE_HOST_PORT": "9123",
            "SAMPLE_HOST_API_KEY": "s3cret",
            "DATABASE_URL": "postgresql://u@db/app",
        }
    )
    assert (config.port, config.api_key) == (9123, "s3cret")
    assert config.database_url == "postgresql+asyncpg://u@db/app"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("mariadb://root@127.0.0.1/app", "mysql+asyncmy://root@127.0.0.1/app"),
        ("postgresql+asyncpg://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
    ],
)
def test_database_urls_get_an_async_driver(given: str, expected: str) -> None:
    assert async_database_url(given) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAMPLE_HOST_PORT": "eighty"}, "SAMPLE_HOST_PORT"),
        ({"SAMPLE_HOST_PORT": "70000"}, "65535"),
        ({"DATABASE_URL": "oracle://x@y/z"}, "expected sqlite, postgresql or mysql"),
        ({"SAMPLE_HOST_SIMULATOR_DELAY": "-1"}, "SAMPLE_HOST_SIMULATOR_DELAY"),
    ],
)
def test_bad_settings_say_what_is_expected(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HostConfig.from_env(env)


def test_simulator_environment_by_default_points_at_itself() -> None:
    settings, in_process = kit_settings("http://127.0.0.1:8000", {})
    assert in_process
    assert settings.environment is Environment.SIMULATOR
    assert settings.daraja_base_url == "http://127.0.0.1:8000/daraja-simulator"
    assert settings.stk_callback_url == "http://127.0.0.1:8000/api/public/mpesa/stk-push/callback"


def test_an_external_simulator_is_not_started_again() -> None:
    settings, in_process = kit_settings(
        "http://127.0.0.1:8000", {"MPESA_BASE_URL": "http://127.0.0.1:8089"}
    )
    assert not in_process
    assert settings.daraja_base_url == "http://127.0.0.1:8089"


def test_sandbox_needs_credentials() -> None:
    with pytest.raises(ConfigError, match="MPESA_CONSUMER_KEY"):
        kit_settings("http://127.0.0.1:8000", {"MPESA_ENVIRONMENT": "sandbox"})


@pytest.mark.parametrize(
    ("path", "protected"),
    [
        ("/api/policies", True),
        ("/api/internal/mpesa/stk-push/initiate", True),
        ("/api/internal/mpesa/openapi.json", False),
        ("/api/public/mpesa/stk-push/callback", False),
        ("/api/public/mpesa/confirmation", False),
        ("/public/mpesa/confirmation", False),
        ("/hooks/daraja/validation", False),
        ("/", False),
        ("/docs", False),
        ("/health/ready", False),
    ],
)
def test_middleware_skip_list(path: str, protected: bool) -> None:
    assert is_protected(path) is protected


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/office/api/policies", 401),
        ("/office/api/premiums", 401),
        ("/office/api/host", 401),
        ("/office/hooks/daraja/stk-push/callback", 200),
        ("/office/", 200),
    ],
)
async def test_the_api_key_is_checked_below_a_root_path(url: str, status: int) -> None:
    # uvicorn --root-path /office puts the prefix in front of scope["path"].
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("reached")(scope, receive, send)

    guarded = ApiKeyMiddleware(app, api_key="k")
    transport = httpx.ASGITransport(app=guarded, root_path="/office")
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
        response = await client.get(url)
        assert response.status_code == status
        if status == 401:
            assert response.json()["error"]["code"] == "unauthenticated"
            keyed = await client.get(url, headers={"X-API-Key": "k"})
            assert keyed.status_code == 200
