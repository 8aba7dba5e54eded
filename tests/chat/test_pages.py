"""The pages people open: served with strict headers, embeddable only where allowed."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx

from tests.support import LiveDesk


async def test_pages_are_served_with_a_strict_content_security_policy(desk: LiveDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        for path in ("/demo", "/console", "/survey"):
            page = await http.get(path)
            assert page.status_code == 200, path
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert page.headers["x-content-type-options"] == "nosniff"
        root = await http.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/demo"


async def test_the_widget_frame_is_embeddable_only_by_allowed_sites(desk: LiveDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        own = await http.get(f"/widget?origin={quote(desk.origin)}")
        assert own.status_code == 200
        assert desk.origin in own.headers["content-security-policy"]
        foreign = await http.get("/widget?origin=" + quote("https://evil.test"))
        assert foreign.status_code == 403
        assert "not allowed to embed" in foreign.text


async def test_the_loader_and_translations_are_public(desk: LiveDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        loader = await http.get("/widget.js")
        assert loader.status_code == 200
        assert loader.headers["content-type"].startswith("text/javascript")
        keys = []
        for lang in ("en", "pt-BR", "nl"):
            strings = await http.get(f"/static/i18n/{lang}.json")
            assert strings.headers["access-control-allow-origin"] == "*"
            keys.append(set(json.loads(strings.text)))
        assert keys[0] == keys[1] == keys[2]
        missing = await http.get("/static/i18n/../../chat/settings.py")
        assert missing.status_code == 404


async def test_health_and_services_answer_without_login(desk: LiveDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        health = (await http.get("/api/health")).json()
        assert health == {"status": "ok", "bus": True}
        services = (await http.get("/api/services")).json()["services"]
        assert [s["name"] for s in services] == [
            "Support",
            "Customer success",
            "Billing",
            "Suggestions",
            "Others",
        ]
