"""``mpesa-kit daraja``: JSON out, secrets never, the token masked unless asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from pytest_httpx import HTTPXMock

from mpesa_daraja_kit.cli import get_command
from mpesa_daraja_kit.config import SANDBOX_PASSKEY
from tests.client.conftest import (
    PUSH_URL,
    QUERY_URL,
    REGISTER_V1_URL,
    TOKEN_URL,
    fixture,
)

ENV = {
    "MPESA_ENVIRONMENT": "sandbox",
    "MPESA_CONSUMER_KEY": "cli-key",
    "MPESA_CONSUMER_SECRET": "cli-secret-value",
    "MPESA_BUSINESS_SHORT_CODE": "174379",
    "MPESA_PASSKEY": SANDBOX_PASSKEY,
    "MPESA_CALLBACK_BASE_URL": "https://insurer.example/hooks",
    "MPESA_BASE_URL": "",
}
TOKEN = fixture("oauth_ok")["access_token"]


def run(*args: str, **env: str) -> Any:
    result = CliRunner().invoke(get_command(), ["daraja", *args], env=ENV | env)
    return result


def _no_secrets(text: str) -> None:
    for secret in ("cli-secret-value", SANDBOX_PASSKEY, "cli-key"):
        assert secret not in text


def test_token_is_masked_by_default(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, json=fixture("oauth_ok"))
    result = run("token")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert TOKEN not in result.output
    assert data["access_token"].startswith(TOKEN[:4])
    assert data["expires_in"] == 3599
    assert data["base_url"] == "https://sandbox.safaricom.co.ke"
    _no_secrets(result.output)


def test_show_token_prints_it(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, json=fixture("oauth_ok"))
    result = run("token", "--show-token")
    assert json.loads(result.output)["access_token"] == TOKEN


def test_base_url_variable_overrides_the_host(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url="http://127.0.0.1:8089/oauth/v1/generate?grant_type=client_credentials",
        json=fixture("oauth_ok"),
    )
    result = run("token", MPESA_BASE_URL="http://127.0.0.1:8089")
    assert json.loads(result.output)["base_url"] == "http://127.0.0.1:8089"


def test_stk_push_prints_request_and_response_without_the_password(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, json=fixture("oauth_ok"))
    httpx_mock.add_response(method="POST", url=PUSH_URL, json=fixture("stk_push_response_ok"))
    result = run(
        "stk-push",
        "--phone",
        "0708374149",
        "--amount",
        "10",
        "--account-reference",
        "POL0012345",
        "--description",
        "Premium",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["request"]["Amount"] == 10
    assert data["request"]["Password"] == "***"
    assert data["response"]["CheckoutRequestID"] == "ws_CO_1007202409152617172396192"
    _no_secrets(result.output)
    assert TOKEN not in result.output


def test_stk_query_prints_the_answer(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, json=fixture("oauth_ok"))
    httpx_mock.add_response(method="POST", url=QUERY_URL, json=fixture("stk_query_final_cancelled"))
    result = run("stk-query", "ws_CO_13102022160444963706803305")
    assert json.loads(result.output)["ResultCode"] == "1032"


def test_register_urls_prints_the_answer(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=TOKEN_URL, json=fixture("oauth_ok"))
    httpx_mock.add_response(method="POST", url=REGISTER_V1_URL, json=fixture("c2b_register_ok"))
    result = run("register-urls", "--api-version", "v1", "--response-type", "Cancelled")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["OriginatorCoversationID"] == "7619-37765134-1"
    assert json.loads(httpx_mock.get_requests()[-1].content)["ResponseType"] == "Cancelled"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (
            ["stk-push", "--phone", "12", "--amount", "1", "--account-reference", "P"],
            "invalid_phone_number",
        ),
        (["register-urls", "--confirmation-url", "https://x.example/mpesa/c"], "invalid_request"),
    ],
)
def test_refusals_are_json_on_stderr_with_exit_1(
    httpx_mock: HTTPXMock, args: list[str], code: str
) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert json.loads(result.stderr)["error"]["code"] == code
    assert httpx_mock.get_requests() == []


def test_daraja_errors_are_json_without_secrets(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET", url=TOKEN_URL, status_code=400, json=fixture("oauth_bad_credentials")
    )
    result = run("token")
    assert result.exit_code == 1
    error = json.loads(result.stderr)["error"]
    assert error["classification"] == "auth"
    assert error["error_code"] == "400.008.01"
    _no_secrets(result.stderr + result.output)


def test_missing_settings_are_one_line_naming_the_variable(httpx_mock: HTTPXMock) -> None:
    result = run("token", MPESA_CONSUMER_KEY="")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: config_invalid:") and "MPESA_CONSUMER_KEY" in line
