"""Settings from code and from MPESA_* variables."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from mpesa_daraja_kit.config import Environment, Settings, banned_url_words
from mpesa_daraja_kit.errors import ConfigError

SANDBOX = {
    "MPESA_ENVIRONMENT": "sandbox",
    "MPESA_CONSUMER_KEY": "ck-very-secret-value",
    "MPESA_CONSUMER_SECRET": "cs-very-secret-value",
    "MPESA_BUSINESS_SHORT_CODE": "174379",
    "MPESA_PASSKEY": "pk-very-secret-value",
    "MPESA_STK_PUSH_CALLBACK_URL": "https://insurer.example/hooks/stk",
    "MPESA_IPN_CONFIRMATION_URL": "https://insurer.example/hooks/confirmation",
    "MPESA_IPN_VALIDATION_URL": "https://insurer.example/hooks/validation",
}


def test_original_plan_variables_load() -> None:
    s = Settings.from_env(SANDBOX)
    assert s.environment is Environment.SANDBOX
    assert s.business_short_code == "174379"
    assert s.stk_callback_url == "https://insurer.example/hooks/stk"
    assert s.confirmation_url.endswith("/confirmation")
    assert s.daraja_base_url == "https://sandbox.safaricom.co.ke"


def test_secrets_never_appear_in_repr_or_errors() -> None:
    s = Settings.from_env(SANDBOX)
    for secret in ("ck-very-secret-value", "cs-very-secret-value", "pk-very-secret-value"):
        assert secret not in repr(s)
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**SANDBOX, "MPESA_AMOUNT_MAX": "lots"})
    assert "MPESA_AMOUNT_MAX" in str(info.value)
    assert "pk-very-secret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MPESA_ENVIRONMENT", "staging", "one of 'sandbox'"),
        ("MPESA_BUSINESS_SHORT_CODE", "12", "5 to 7 digits"),
        ("MPESA_AMOUNT_MIN", "0", "between 1 and 250000"),
        ("MPESA_AMOUNT_MAX", "250001", "between 1 and 250000"),
        ("MPESA_STK_ENABLED", "maybe", "true or false"),
        ("MPESA_C2B_REGISTER_VERSION", "v3", "'v1' or 'v2'"),
        ("MPESA_VALIDATION_TIMEOUT", "9", "between 0 and 8"),
        ("MPESA_STK_PUSH_CALLBACK_URL", "not a url", "absolute http"),
        ("MPESA_CONSUMER_KEY", "", "is required"),
    ],
)
def test_bad_values_name_the_variable_and_what_was_expected(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**SANDBOX, variable: value})
    assert variable in str(info.value)
    assert expected in str(info.value)


def test_production_requires_https_callbacks() -> None:
    with pytest.raises(ConfigError, match=r"MPESA_STK_PUSH_CALLBACK_URL.*https"):
        Settings.from_env(
            {
                **SANDBOX,
                "MPESA_ENVIRONMENT": "production",
                "MPESA_STK_PUSH_CALLBACK_URL": "http://insurer.example/x",
            }
        )


def test_simulator_environment_needs_no_credentials() -> None:
    s = Settings.from_env({"MPESA_ENVIRONMENT": "simulator"})
    assert s.consumer_key and s.passkey and s.business_short_code == "174379"
    assert s.daraja_base_url == "http://127.0.0.1:8089"
    assert (
        Settings.from_env(
            {"MPESA_ENVIRONMENT": "simulator", "MPESA_BASE_URL": "http://127.0.0.1:9/"}
        ).daraja_base_url
        == "http://127.0.0.1:9"
    )


def test_constructible_in_code_and_callback_urls_from_a_base() -> None:
    s = Settings.for_simulator(
        callback_base_url="https://insurer.example/cb",
        callback_path_secret="s" * 24,
        amount_max=Decimal(70000),
    )
    assert s.stk_callback_url == f"https://insurer.example/cb/{'s' * 24}/stk-push/callback"
    assert s.amount_max == Decimal(70000)
    with pytest.raises(ConfigError, match="amount_min"):
        Settings.for_simulator(amount_min=Decimal("1.5"))


def test_banned_words() -> None:
    assert banned_url_words("https://x.example/api/public/mpesa/confirmation") == ["mpesa"]
    assert banned_url_words("https://x.example/hooks/c2b/confirm") == []


def test_every_setting_is_documented() -> None:
    page = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for field in attrs.fields(Settings):
        assert re.search(rf"`{field.metadata['env']}`", page), (
            f"{field.metadata['env']} undocumented"
        )
