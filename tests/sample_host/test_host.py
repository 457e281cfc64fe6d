"""The sample host's surface: its API-key middleware, the public callbacks, OpenAPI, Swagger UI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpesa_daraja_kit.web.openapi_schemas import EXAMPLE_NAMES
from tests.sample_host.support import AUTH, RunningHost, run_host

pytestmark = pytest.mark.slow  # a sample host subprocess

FIXTURES = Path(__file__).parents[1] / "fixtures" / "daraja"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('host')}/host.db"
    with run_host(url) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/policies"),
        ("GET", "/api/host"),
        ("POST", "/api/internal/mpesa/stk-push/initiate"),
        ("GET", "/api/internal/mpesa/payments"),
    ],
)
def test_the_host_api_needs_the_key(host: RunningHost, method: str, path: str) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = host.http.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
        assert "X-API-Key" in response.json()["error"]["message"]


@pytest.mark.parametrize("prefix", ["/api/public/mpesa", "/hooks/daraja"])
def test_callbacks_need_no_key(host: RunningHost, prefix: str) -> None:
    # Safaricom sends no key: the middleware lets the callback through to the kit,
    # which keeps even an unreadable body and answers Accepted.
    response = host.http.post(
        f"{prefix}/stk-push/callback", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}


def test_health_probes_need_no_key(host: RunningHost) -> None:
    live = host.http.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = host.http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ok"


def test_operator_page_is_served(host: RunningHost) -> None:
    page = host.http.get("/")
    assert page.status_code == 200
    assert 'id="pay-form"' in page.text
    assert host.http.get("/static/operator.js").status_code == 200


def test_openapi_describes_both_apps(host: RunningHost) -> None:
    response = host.http.get("/api/internal/mpesa/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.0")
    paths = doc["paths"]
    callback = paths["/api/public/mpesa/stk-push/callback"]["post"]
    assert callback["security"] == []
    examples = callback["requestBody"]["content"]["application/json"]["examples"]
    assert examples["paid"]["value"] == json.loads(
        (FIXTURES / "stk_callback_success.json").read_text()
    )
    initiate = paths["/api/internal/mpesa/stk-push/initiate"]["post"]
    assert initiate["security"] == [{"hostAuth": []}]
    assert {"201", "400", "404", "503"} <= set(initiate["responses"])
    assert initiate["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StkPushInitiateRequest"
    }
    assert "/api/internal/mpesa/stk-push/{request_id}" in paths
    for path, operations in paths.items():
        for operation in operations.values():
            public = path.startswith("/api/public/")
            assert (operation["security"] == []) == (public or path.endswith("/openapi.json")), path


def test_openapi_lists_c2b_and_statements_once_they_exist(host: RunningHost) -> None:
    paths = host.http.get("/api/internal/mpesa/openapi.json").json()["paths"]
    if host.has_route("public", "/confirmation"):
        assert paths["/api/public/mpesa/confirmation"]["post"]["security"] == []
    if host.has_route("internal", "/statements"):
        body = paths["/api/internal/mpesa/statements"]["post"]["requestBody"]
        assert "multipart/form-data" in body["content"]


def test_swagger_ui_is_served_from_local_assets(host: RunningHost) -> None:
    page = host.http.get("/docs")
    assert page.status_code == 200
    assert "/api/internal/mpesa/openapi.json" in page.text
    assert "https://" not in page.text  # no CDN
    bundle = host.http.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "SwaggerUIBundle" in bundle.text[:200_000]


def test_shipped_examples_equal_the_fixtures() -> None:
    package = Path(__file__).parents[2] / "mpesa_daraja_kit" / "web" / "examples"
    for name in EXAMPLE_NAMES:
        assert (package / f"{name}.json").read_bytes() == (FIXTURES / f"{name}.json").read_bytes()


def test_simulator_buttons_explain_bad_input(host: RunningHost) -> None:
    bad = host.http.post(
        "/api/simulator/stk-outcome",
        json={"outcome": "explode", "phoneNumber": "0708374149"},
        headers=AUTH,
    )
    assert bad.status_code == 400
    assert "cancelled" in bad.json()["error"]["message"]
    phone = host.http.post(
        "/api/simulator/c2b-payment",
        json={"accountReference": "POL0012345", "phoneNumber": "999", "amount": 10},
        headers=AUTH,
    )
    assert phone.status_code == 400
    assert phone.json()["error"]["code"] == "invalid_phone_number"
