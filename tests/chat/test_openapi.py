"""The OpenAPI document describes exactly the app's `/api` routes."""

from __future__ import annotations

import re

import httpx
from starlette.routing import Route

from chat.app import create_app
from chat.openapi import DOCUMENT
from chat.settings import Settings
from tests.support import LiveDesk


def _app_routes() -> set[tuple[str, str]]:
    app = create_app(Settings.from_env({}, secret_key="x"))
    found = set()
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((path, method.lower()))
    return found


def test_every_api_route_is_documented_and_nothing_else() -> None:
    documented = {
        (path, method) for path, operations in DOCUMENT["paths"].items() for method in operations
    }
    assert documented == _app_routes()


def test_every_operation_names_its_errors() -> None:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], (path, method)
            if "security" in operation:
                assert "401" in operation["responses"], (path, method)


async def test_the_document_is_served(desk: LiveDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        served = await http.get("/api/openapi.json")
    assert served.status_code == 200 and served.json()["openapi"].startswith("3.")
    assert "/api/tickets/{ticket_id}" in served.json()["paths"]
