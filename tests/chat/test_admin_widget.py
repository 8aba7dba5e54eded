"""Admins set the widget's look and the sites that may embed it (issue #6).

A saved site is allowed everywhere an origin is checked — the websocket upgrade, the
widget frame's frame-ancestors, CORS of the public config — in this process at once
and in every other one through the bus; a site nobody saved stays refused.
"""

from __future__ import annotations

import asyncio
import gzip
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chat.models import AuditEntry
from chat.pages import STATIC_DIR
from tests.conftest import Backend
from tests.support import (
    FRAME_TIMEOUT,
    AgentConsole,
    Customer,
    LiveDesk,
    start_two_desks,
)

SHOP = "https://shop.example.com"
FOREIGN = "https://evil.example.net"
# The loader is on every customer page: it must stay small (README, "Widget").
LOADER_BUDGET_GZIPPED_BYTES = 4096


def _http(desk: LiveDesk, console: AgentConsole, *, csrf: bool = True) -> httpx.AsyncClient:
    headers = {"X-CSRF-Token": console.cookies["chatdesk_csrf"]} if csrf else {}
    return httpx.AsyncClient(base_url=desk.base_url, cookies=console.cookies, headers=headers)


async def _widget_socket_opens(desk: LiveDesk, origin: str) -> bool:
    try:
        ws = await connect(
            desk.ws_url + "/ws/widget",
            origin=origin,  # type: ignore[arg-type]
            open_timeout=FRAME_TIMEOUT,
        )
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False
    await ws.close()
    return True


async def test_an_admin_saves_the_look_and_the_widget_reads_it(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with _http(desk, admin) as http:
        before = (await http.get("/api/admin/widget")).json()
        assert before == {
            "color": "#1f6feb",
            "position": "right",
            "greeting": {},
            "allowed_origins": [],
        }
        saved = await http.put(
            "/api/admin/widget",
            json={
                "color": "#AA3300",
                "position": "left",
                "greeting": {"en": "  Hello from ACME!  ", "nl": "Hoi!", "pt-BR": ""},
                "allowed_origins": [
                    SHOP + "/",
                    "https://shop.example.com:443",
                    "http://x.test:8080",
                    "https://Bücher.example",
                ],
            },
        )
        assert saved.status_code == 200, saved.text
        # Normalised as a browser writes Origin; an empty greeting falls back to the default.
        assert saved.json() == {
            "color": "#aa3300",
            "position": "left",
            "greeting": {"en": "Hello from ACME!", "nl": "Hoi!"},
            "allowed_origins": [SHOP, "http://x.test:8080", "https://xn--bcher-kva.example"],
        }
        assert (await http.get("/api/admin/widget")).json() == saved.json()
        # A partial change keeps the rest.
        colour_only = await http.put("/api/admin/widget", json={"color": "#00aa00"})
        assert colour_only.json()["position"] == "left"
        assert colour_only.json()["allowed_origins"][:2] == [SHOP, "http://x.test:8080"]
    async with httpx.AsyncClient(base_url=desk.base_url) as anonymous:
        public = await anonymous.get("/api/widget/config")
    assert public.status_code == 200
    assert public.json() == {
        "color": "#00aa00",
        "position": "left",
        "greeting": {"en": "Hello from ACME!", "nl": "Hoi!"},
    }  # never the list of sites

    async with desk.runtime.sessions() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.target == "widget").order_by(AuditEntry.id)
            )
        )
    assert [r.action for r in rows] == ["settings_changed", "settings_changed"]
    assert rows[0].actor_id == admin.agent.id
    assert rows[0].details["allowed_origins"] == {
        "before": [],
        "after": [SHOP, "http://x.test:8080", "https://xn--bcher-kva.example"],
    }
    assert "allowed_origins" not in rows[1].details  # unchanged sites: nothing to trace


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"color": "red"}, "colour like #1f6feb"),
        ({"color": "#12345g"}, "colour like"),
        ({"color": 123}, "colour like"),
        ({"position": "top"}, "'right' or 'left'"),
        ({"greeting": {"de": "Hallo"}}, "unknown language"),
        ({"greeting": {"en": "x" * 501}}, "at most 500 characters"),
        ({"greeting": "Hello"}, "map a language"),
        ({"allowed_origins": ["https://shop.example.com/path"]}, "no path"),
        ({"allowed_origins": ["ftp://shop.example.com"]}, "http:// or https://"),
        ({"allowed_origins": ["shop.example.com"]}, "http:// or https://"),
        ({"allowed_origins": ["https://shop.example.com?x=1"]}, "no path"),
        ({"allowed_origins": ["https://user:pw@shop.example.com"]}, "user name"),
        ({"allowed_origins": ["https://*.example.com"]}, "wildcards"),
        ({"allowed_origins": ["https://shop.example.com:99999"]}, "not a valid origin"),
        ({"allowed_origins": [f"https://s{i}.example.com" for i in range(51)]}, "At most 50"),
        ({"allowed_origins": "https://shop.example.com"}, "a list of origins"),
        ({"colour": "#ffffff"}, "Unknown widget settings: colour"),
    ],
)
async def test_bad_widget_settings_are_refused_with_a_reason(
    desk: LiveDesk, body: dict[str, object], words: str
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with _http(desk, admin) as http:
        refused = await http.put("/api/admin/widget", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_setting"
        assert words in refused.json()["message"]
        not_an_object = await http.put("/api/admin/widget", json=["#ffffff"])
        assert not_an_object.status_code in (400, 422)
        assert (await http.get("/api/admin/widget")).json()["color"] == "#1f6feb"


async def test_only_admins_change_the_widget_and_only_with_the_csrf_token(
    desk: LiveDesk,
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea", online=False)
    async with _http(desk, bea) as http:
        for method in ("GET", "PUT"):
            refused = await http.request(method, "/api/admin/widget", json={"color": "#000000"})
            assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
    async with _http(desk, admin, csrf=False) as http:
        no_csrf = await http.put("/api/admin/widget", json={"color": "#000000"})
        assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf_failed"
    async with httpx.AsyncClient(base_url=desk.base_url) as anonymous:
        assert (await anonymous.get("/api/admin/widget")).status_code == 401
        put = await anonymous.put("/api/admin/widget", json={"color": "#000000"})
        assert put.status_code == 401
    assert desk.runtime.widget.look.color == "#1f6feb"


async def test_a_saved_site_may_embed_the_widget_and_a_foreign_one_may_not(
    desk: LiveDesk,
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    assert not await _widget_socket_opens(desk, SHOP)
    async with httpx.AsyncClient(base_url=desk.base_url) as anonymous:
        frame = await anonymous.get(f"/widget?origin={quote(SHOP)}")
        assert frame.status_code == 403
    async with _http(desk, admin) as http:
        saved = await http.put("/api/admin/widget", json={"allowed_origins": [SHOP]})
        assert saved.status_code == 200

    # The websocket upgrade: the saved site is let in, a foreign one still refused.
    assert await _widget_socket_opens(desk, SHOP)
    assert not await _widget_socket_opens(desk, FOREIGN)
    ana = Customer(desk, site=SHOP)
    welcome = await ana.connect()
    assert welcome["customer"]["id"]

    async with httpx.AsyncClient(base_url=desk.base_url) as anonymous:
        # The frame: served to the saved site, and its CSP lets that site frame it.
        frame = await anonymous.get(f"/widget?origin={quote(SHOP)}")
        assert frame.status_code == 200
        assert SHOP in frame.headers["content-security-policy"].split("frame-ancestors")[1]
        foreign = await anonymous.get(f"/widget?origin={quote(FOREIGN)}")
        assert foreign.status_code == 403
        # CORS of the public config: the saved site may read it, a foreign one may not.
        mine = await anonymous.get("/api/widget/config", headers={"Origin": SHOP})
        assert mine.headers["access-control-allow-origin"] == SHOP
        theirs = await anonymous.get("/api/widget/config", headers={"Origin": FOREIGN})
        assert "access-control-allow-origin" not in theirs.headers
        assert "Origin" in theirs.headers["vary"]

    # Taking the site away again closes the door.
    async with _http(desk, admin) as http:
        await http.put("/api/admin/widget", json={"allowed_origins": []})
    assert not await _widget_socket_opens(desk, SHOP)


async def test_another_instance_learns_a_saved_site_from_the_bus(
    shared_backend: Backend, bus_prefix: str
) -> None:
    async with start_two_desks(
        shared_backend.database_url, shared_backend.redis_url, bus_prefix
    ) as (one, two):
        admin = await one.agent("Ada", admin=True, online=False)
        assert not await _widget_socket_opens(two, SHOP)
        async with _http(one, admin) as http:
            saved = await http.put("/api/admin/widget", json={"allowed_origins": [SHOP]})
            assert saved.status_code == 200
        await one.runtime.bus.flush()
        for _ in range(100):  # the event crosses Redis; the other instance reloads
            if SHOP in two.runtime.widget.origins:
                break
            await asyncio.sleep(0.05)
        assert await _widget_socket_opens(two, SHOP)


async def test_the_loader_stays_within_its_size_budget() -> None:
    loader = (STATIC_DIR / "widget.js").read_bytes()
    assert len(gzip.compress(loader, 9)) <= LOADER_BUDGET_GZIPPED_BYTES
