"""`POST /api/widget/portal-link`: the widget's "See your tickets" link into the portal.

The portal can't read the widget's identity when the widget sits on a shop of another
site (the browser partitions or blocks the frame's storage), so the widget asks for a
link that carries the sign-in. Only the widget's own customer gets one, and the link
signs in exactly that customer.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support import LiveDesk

SHOP = "https://shop.example"


async def test_the_widgets_customer_gets_a_link_that_signs_them_in(desk: LiveDesk) -> None:
    ana = await desk.customer()
    async with ana.http() as widget:
        answer = await widget.post("/api/widget/portal-link")
    assert answer.status_code == 200, answer.text
    url = urlsplit(answer.json()["url"])
    assert f"{url.scheme}://{url.netloc}" == desk.origin and url.path == "/portal"
    link = parse_qs(url.query)["signin"][0]

    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        signed_in = await http.post("/api/portal/link", json={"token": link})
        assert signed_in.status_code == 200, signed_in.text
        me = (await http.get("/api/portal/me")).json()["customer"]
    assert me["id"] == desk.runtime.tokens.verify(ana.token, desk.origin)


async def test_no_link_without_a_valid_widget_identity(desk: LiveDesk) -> None:
    ana = await desk.customer()
    assert ana.token is not None
    issued_elsewhere = desk.runtime.tokens.issue(1, SHOP)  # valid, but for another site
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        for headers in (
            {},
            {"X-Chatdesk-Token": ana.token + "x"},
            {"X-Chatdesk-Token": issued_elsewhere},
            {"X-Chatdesk-Token": ana.token, "X-Chatdesk-Site": SHOP},
        ):
            refused = await http.post("/api/widget/portal-link", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert "signin" not in refused.text
