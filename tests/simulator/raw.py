"""Raw HTTP calls to the simulator, built by hand (no kit client): the peer's view."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import httpx

from mpesa_daraja_kit.clock import format_daraja_timestamp
from mpesa_daraja_kit.config import SIMULATOR_CONSUMER_KEY, SIMULATOR_CONSUMER_SECRET
from mpesa_daraja_kit.simulator import Simulator
from tests.conftest import load_fixture

DROP = object()
"""Pass as an override to leave a field out of the body."""


class FakeClock:
    """An injectable clock (aware UTC) that only moves when told."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def password(short_code: str, passkey: str, timestamp: str) -> str:
    """Return Daraja's STK password: base64(short code + passkey + timestamp)."""
    return base64.b64encode(f"{short_code}{passkey}{timestamp}".encode()).decode()


def _apply(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


class RawDaraja:
    """Speak to a served simulator with hand-built requests."""

    def __init__(self, base_url: str, simulator: Simulator, callback_url: str) -> None:
        self.base_url = base_url
        self.sim = simulator
        self.callback_url = callback_url
        self.http = httpx.Client(base_url=base_url, timeout=15.0)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    # -- auth ---------------------------------------------------------------------------

    def token_response(
        self,
        key: str = SIMULATOR_CONSUMER_KEY,
        secret: str = SIMULATOR_CONSUMER_SECRET,
        grant_type: str = "client_credentials",
    ) -> httpx.Response:
        return self.http.get(
            "/oauth/v1/generate", params={"grant_type": grant_type}, auth=(key, secret)
        )

    def token(self) -> str:
        if self._token is None:
            response = self.token_response()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token()}"}

    # -- bodies -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.sim.config.clock()

    def credentials(
        self, *, when: datetime | None = None, passkey: str | None = None
    ) -> dict[str, str]:
        stamp = format_daraja_timestamp(when or self.now())
        code = self.sim.short_code
        return {
            "BusinessShortCode": code,
            "Password": password(code, passkey or self.sim.passkey, stamp),
            "Timestamp": stamp,
        }

    def stk_body(self, **overrides: Any) -> dict[str, Any]:
        body = load_fixture("stk_push_request")
        body.update(self.credentials())
        body["PartyB"] = self.sim.short_code
        body["CallBackURL"] = self.callback_url
        return _apply(body, overrides)

    # -- calls --------------------------------------------------------------------------

    def post(self, path: str, body: Any, *, token: str | None = None) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.auth(token))

    def stk_push(self, **overrides: Any) -> httpx.Response:
        return self.post("/mpesa/stkpush/v1/processrequest", self.stk_body(**overrides))

    def stk_push_ok(self, **overrides: Any) -> dict[str, Any]:
        response = self.stk_push(**overrides)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def query(self, checkout_request_id: str, **overrides: Any) -> httpx.Response:
        body = {**self.credentials(), "CheckoutRequestID": checkout_request_id}
        return self.post("/mpesa/stkpushquery/v1/query", _apply(body, overrides))

    def register(self, version: str = "v1", **overrides: Any) -> httpx.Response:
        body = {
            "ShortCode": self.sim.short_code,
            "ResponseType": "Completed",
            "ConfirmationURL": self.callback_url.rsplit("/", 2)[0] + "/c2b/confirmation",
            "ValidationURL": self.callback_url.rsplit("/", 2)[0] + "/c2b/validation",
        }
        return self.post(f"/mpesa/c2b/{version}/registerurl", _apply(body, overrides))

    def simulate(self, version: str = "v1", **overrides: Any) -> httpx.Response:
        body = {
            "ShortCode": self.sim.short_code,
            "CommandID": "CustomerPayBillOnline",
            "Amount": 750,
            "Msisdn": "254708374149",
            "BillRefNumber": "POL0055512",
        }
        return self.post(f"/mpesa/c2b/{version}/simulate", _apply(body, overrides))

    def queue(self, **spec: Any) -> httpx.Response:
        return self.http.post("/simulator/next-outcome", json=spec)

    def final_query(self, checkout_request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll the STK query until it stops saying "being processed"; return the answer."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            response = self.query(checkout_request_id)
            if response.status_code == 200:
                data: dict[str, Any] = response.json()
                return data
            assert response.json()["errorMessage"] == "The transaction is being processed"
            assert time.monotonic() < deadline, "the prompt stayed pending"
            time.sleep(0.02)
