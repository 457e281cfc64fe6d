"""The OpenAPI document: every served route, public ones open, no secret leaked."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Route

from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.kit import MpesaKit
from mpesa_daraja_kit.web.openapi import build_openapi, public_prefix

SECRET = "s3cret-path-segment-0123456789"


def _kit(engine: AsyncEngine, **settings: object) -> MpesaKit:
    return MpesaKit(Settings.for_simulator(**settings), engine=engine)


def test_every_route_of_both_apps_is_described(sqlite_engine: AsyncEngine) -> None:
    kit = _kit(sqlite_engine, callback_base_url="https://insurer.example/hooks/daraja")
    doc = build_openapi(kit, internal_prefix="/staff/mpesa")
    for app, prefix in ((kit.public_app, "/hooks/daraja"), (kit.internal_app, "/staff/mpesa")):
        for route in app.routes:
            assert isinstance(route, Route)
            path = prefix + route.path
            assert path in doc["paths"], path
            for method in route.methods or ():
                if method != "HEAD":
                    operation = doc["paths"][path][method.lower()]
                    assert operation["responses"], path
                    assert operation["summary"], path


def test_the_path_secret_is_a_parameter_never_its_value(sqlite_engine: AsyncEngine) -> None:
    kit = _kit(
        sqlite_engine,
        callback_base_url="https://insurer.example/hooks/daraja",
        callback_path_secret=SECRET,
    )
    assert public_prefix(kit) == "/hooks/daraja/{callbackPathSecret}"
    doc = build_openapi(kit, internal_prefix="/api/internal/mpesa")
    assert SECRET not in json.dumps(doc)
    callback = doc["paths"]["/hooks/daraja/{callbackPathSecret}/stk-push/callback"]["post"]
    assert callback["parameters"][0]["name"] == "callbackPathSecret"
    assert callback["security"] == []


def test_prefix_from_an_explicit_stk_callback_url(sqlite_engine: AsyncEngine) -> None:
    kit = _kit(sqlite_engine, stk_push_callback_url="https://insurer.example/cb/stk-push/callback")
    assert public_prefix(kit) == "/cb"
