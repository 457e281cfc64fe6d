"""OAuth: HTTP Basic against the configured credentials, tokens that expire."""

from __future__ import annotations

from datetime import UTC, datetime

from mpesa_daraja_kit.config import Settings
from tests.conftest import load_fixture
from tests.simulator.conftest import MakeDaraja
from tests.simulator.raw import FakeClock, RawDaraja


def test_token_answer_has_daraja_shape_with_string_expiry(daraja: RawDaraja) -> None:
    response = daraja.token_response()

    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(load_fixture("oauth_ok"))
    assert body["expires_in"] == "3599"
    assert len(body["access_token"]) == 28


def test_wrong_consumer_secret_is_refused_like_daraja(daraja: RawDaraja) -> None:
    response = daraja.token_response(secret="not-the-secret")

    assert response.status_code == 400
    body = response.json()
    assert set(body) == set(load_fixture("oauth_bad_credentials"))
    assert body["errorCode"] == "400.008.01"


def test_wrong_grant_type_is_refused(daraja: RawDaraja) -> None:
    response = daraja.token_response(grant_type="password")

    assert response.json()["errorCode"] == "400.008.02"


def test_credentials_come_from_the_settings(make_daraja: MakeDaraja) -> None:
    settings = Settings.for_simulator(consumer_key="ck-from-env", consumer_secret="cs-from-env")
    daraja = make_daraja(settings)

    assert daraja.token_response().status_code == 400
    assert daraja.token_response("ck-from-env", "cs-from-env").status_code == 200


def test_expired_token_gets_invalid_access_token(make_daraja: MakeDaraja) -> None:
    clock = FakeClock(datetime(2024, 7, 10, 7, 15, tzinfo=UTC))
    daraja = make_daraja(token_lifetime=60, clock=clock)
    token = daraja.token()
    assert daraja.stk_push().status_code == 200

    clock.advance(60)
    response = daraja.stk_push(PhoneNumber="254708374100", PartyA="254708374100")

    assert response.status_code == 404
    assert response.json()["errorCode"] == "404.001.03"
    assert response.json()["errorMessage"] == "Invalid Access Token"
    fresh = daraja.token_response().json()["access_token"]
    assert fresh != token
    assert (
        daraja.post(
            "/mpesa/stkpush/v1/processrequest",
            daraja.stk_body(PhoneNumber="254708374100", PartyA="254708374100"),
            token=fresh,
        ).status_code
        == 200
    )


def test_made_up_token_is_refused(daraja: RawDaraja) -> None:
    response = daraja.post("/mpesa/stkpush/v1/processrequest", daraja.stk_body(), token="abc")

    assert response.json() == {
        "requestId": response.json()["requestId"],
        "errorCode": "404.001.03",
        "errorMessage": "Invalid Access Token",
    }


def test_missing_bearer_header_is_refused(daraja: RawDaraja) -> None:
    response = daraja.http.post("/mpesa/stkpush/v1/processrequest", json=daraja.stk_body())

    assert response.status_code == 404
    assert response.json()["errorCode"] == "404.001.04"


def test_expire_tokens_control_endpoint_invalidates_every_token(daraja: RawDaraja) -> None:
    daraja.token()
    assert daraja.http.post("/simulator/expire-tokens").status_code == 200

    assert daraja.stk_push().json()["errorCode"] == "404.001.03"


def test_single_token_mode_invalidates_the_previous_token(make_daraja: MakeDaraja) -> None:
    daraja = make_daraja(single_token=True)
    first = daraja.token_response().json()["access_token"]
    second = daraja.token_response().json()["access_token"]

    stale = daraja.post("/mpesa/stkpush/v1/processrequest", daraja.stk_body(), token=first)
    fresh = daraja.post("/mpesa/stkpush/v1/processrequest", daraja.stk_body(), token=second)

    assert stale.json()["errorCode"] == "404.001.03"
    assert fresh.status_code == 200
