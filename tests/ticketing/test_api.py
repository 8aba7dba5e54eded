"""The ticket API and the customer's portal, through a live server on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support import AgentConsole, Customer, LiveDesk

BILLING = 3
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def agent_http(desk: LiveDesk, console: AgentConsole) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=desk.base_url,
        cookies=console.cookies,
        headers={"X-CSRF-Token": console.cookies["chatdesk_csrf"]},
    )


@asynccontextmanager
async def portal_http(desk: LiveDesk, customer: Customer) -> AsyncIterator[httpx.AsyncClient]:
    """A customer signs in to the portal with the widget's identity."""
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        signed_in = await http.post(
            "/api/portal/session", json={"token": customer.token, "site": desk.origin}
        )
        assert signed_in.status_code == 200, signed_in.text
        http.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
        yield http


async def _ticket_from_portal(http: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    created = await http.post(
        "/api/portal/tickets",
        json={
            "service_id": BILLING,
            "subject": "Charged twice",
            "message": "Invoice 7 twice",
            **extra,
        },
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _view(http: httpx.AsyncClient, view: str) -> list[int]:
    response = await http.get("/api/portal/tickets", params={"view": view})
    assert response.status_code == 200
    return [t["id"] for t in response.json()["items"]]


async def test_the_customers_panel_follows_a_ticket_through_its_life(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", online=False)
    ana = await desk.customer()
    async with portal_http(desk, ana) as portal, agent_http(desk, bea) as agent:
        ticket = await _ticket_from_portal(portal, cc=["boss@shop.example"])
        tid = ticket["id"]
        assert ticket["status"] == "new" and ticket["cc"] == ["boss@shop.example"]
        assert await _view(portal, "awaiting_return") == [tid]

        detail = (await agent.get(f"/api/tickets/{tid}")).json()
        assert detail["sla"]["pickup"]["target_seconds"] == 16 * 3600
        assert "open" in detail["allowed_statuses"]

        asked = await agent.post(
            f"/api/tickets/{tid}/replies", json={"body": "Which card?", "status": "pending"}
        )
        assert asked.json()["status"] == "pending" and asked.json()["agent"]["name"] == "Bea"
        await agent.post(
            f"/api/tickets/{tid}/replies",
            json={"body": "VIP customer, refund fast", "internal": True},
        )
        assert await _view(portal, "awaiting_my_response") == [tid]

        seen = (await portal.get(f"/api/portal/tickets/{tid}")).json()
        assert "VIP customer, refund fast" not in [m["body"] for m in seen["messages"]]
        assert all(not m["internal"] for m in seen["messages"])
        assert "history" not in seen and "sla" not in seen

        answered = await portal.post(
            f"/api/portal/tickets/{tid}/replies", json={"body": "The Visa"}
        )
        assert answered.json()["status"] == "open"
        await agent.post(
            f"/api/tickets/{tid}/replies", json={"body": "Refunded", "status": "resolved"}
        )
        assert await _view(portal, "resolved_awaiting_approval") == [tid]

        reopened = await portal.post(f"/api/portal/tickets/{tid}/reopen", json={})
        assert reopened.json()["status"] == "open"
        assert reopened.json()["agent"]["name"] == "Bea"  # back to the same agent
        await agent.post(f"/api/tickets/{tid}/status", json={"status": "resolved"})
        confirmed = await portal.post(f"/api/portal/tickets/{tid}/confirm", json={})
        assert confirmed.json()["status"] == "closed"
        assert confirmed.json()["close_reason"] == "approved"
        assert await _view(portal, "not_yet_rated") == [tid]

        rated = await portal.post(
            f"/api/portal/tickets/{tid}/rate", json={"rating": 4, "comment": "ok"}
        )
        assert rated.json()["survey"]["rating"] == 4
        assert await _view(portal, "not_yet_rated") == []
        assert await _view(portal, "all") == [tid]
        counts = (await portal.get("/api/portal/counts")).json()
        assert counts == {
            "awaiting_my_response": 0,
            "awaiting_return": 0,
            "resolved_awaiting_approval": 0,
            "not_yet_rated": 0,
            "all": 1,
        }

        history = (await agent.get(f"/api/tickets/{tid}")).json()["history"]
        statuses = [(h["from"], h["to"]) for h in history if h["field"] == "status"]
        assert statuses[0] == (None, "new") and statuses[-1] == ("resolved", "closed")


async def test_a_customer_never_sees_another_customers_ticket(desk: LiveDesk) -> None:
    ana, eve = await desk.customer(), await desk.customer()
    async with (
        portal_http(desk, ana) as ana_portal,
        portal_http(desk, eve) as eve_portal,
    ):
        tid = (await _ticket_from_portal(ana_portal))["id"]
        for method, path, body in [
            ("GET", f"/api/portal/tickets/{tid}", None),
            ("POST", f"/api/portal/tickets/{tid}/replies", {"body": "mine now"}),
            ("POST", f"/api/portal/tickets/{tid}/confirm", {}),
            ("POST", f"/api/portal/tickets/{tid}/rate", {"rating": 1}),
        ]:
            response = await eve_portal.request(method, path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["code"] == "ticket_not_found"
        assert await _view(eve_portal, "all") == []
        agents_api = await eve_portal.get(f"/api/tickets/{tid}")
        assert agents_api.status_code == 401


async def test_illegal_changes_are_a_clear_409_and_change_nothing(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", online=False)
    ana = await desk.customer()
    async with portal_http(desk, ana) as portal, agent_http(desk, bea) as agent:
        tid = (await _ticket_from_portal(portal))["id"]
        early = await portal.post(f"/api/portal/tickets/{tid}/confirm", json={})
        assert early.status_code == 409 and early.json()["code"] == "illegal_transition"
        no_reason = await agent.post(f"/api/tickets/{tid}/status", json={"status": "closed"})
        assert no_reason.status_code == 409 and "reason" in no_reason.json()["message"]
        bad = await agent.post(f"/api/tickets/{tid}/status", json={"status": "done"})
        assert bad.status_code == 400
        detail = (await agent.get(f"/api/tickets/{tid}")).json()
        assert detail["status"] == "new"
        assert [h for h in detail["history"] if h["field"] == "status"] == [
            {**detail["history"][0]}
        ]


async def test_agents_search_filter_and_bulk_change(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", online=False)
    ana = await desk.customer()
    async with portal_http(desk, ana) as portal, agent_http(desk, bea) as agent:
        ids = [
            (await _ticket_from_portal(portal, subject=f"Order {n}", message=f"box {n}"))["id"]
            for n in range(3)
        ]
        created = await agent.post(
            "/api/tickets",
            json={
                "requester_email": "carl@other.example",
                "requester_name": "Carl",
                "service_id": BILLING,
                "subject": "Phone call",
                "message": "Called about a refund",
                "priority": "P1",
                "assign_to_me": True,
            },
        )
        assert created.status_code == 201 and created.json()["status"] == "open"
        phone = created.json()["id"]

        async def found(**params: Any) -> list[int]:
            response = await agent.get("/api/tickets", params=params)
            assert response.status_code == 200, response.text
            return sorted(t["id"] for t in response.json()["items"])

        assert await found(q="box 1") == [ids[1]]
        assert await found(q="REFUND") == [phone]
        assert await found(priority="P1") == [phone]
        assert await found(status="new") == sorted(ids)
        assert await found(unassigned="true") == sorted(ids)
        assert await found(per_page=2, page=2) and len(await found(per_page=2)) == 2

        # "approved" closes only resolved tickets: one refusal stops the whole batch.
        refused = await agent.post(
            "/api/tickets/bulk",
            json={"ids": [*ids, phone], "status": "closed", "reason": "approved", "priority": "P5"},
        )
        assert refused.status_code == 409
        assert await found(status="closed") == [] and await found(priority="P5") == []
        done = await agent.post(
            "/api/tickets/bulk",
            json={
                "ids": ids,
                "priority": "P2",
                "tags": ["refund"],
                "agent_id": bea.agent.id,
            },
        )
        assert done.status_code == 200
        assert await found(tag="refund") == sorted(ids)
        # The tag filters before paginating: the page is full and the total counts tagged ones.
        tagged = (await agent.get("/api/tickets", params={"tag": "refund", "per_page": 1})).json()
        assert tagged["total"] == 3 and len(tagged["items"]) == 1
        assert await found(tag="ref") == [] and await found(tag="re_und") == []
        assert await found(agent_id=bea.agent.id) == sorted([*ids, phone])
        # The history names who did it and whom it was assigned to (not just ids).
        history = (await agent.get(f"/api/tickets/{ids[0]}")).json()["history"]
        assigned = next(h for h in history if h["field"] == "agent")
        assert assigned["actor_name"] == "Bea" and assigned["to_name"] == "Bea"
        assert assigned["from_name"] is None
        created_by = next(h for h in history if h["field"] == "status")
        assert created_by["actor_type"] == "customer" and "actor_name" in created_by


async def test_attachments_are_checked_by_content_and_served_safely(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", online=False)
    ana, eve = await desk.customer(), await desk.customer()
    async with portal_http(desk, ana) as portal, agent_http(desk, bea) as agent:
        tid = (await _ticket_from_portal(portal))["id"]
        image = await portal.post(
            f"/api/portal/tickets/{tid}/attachments", files={"file": ("shot.png", PNG, "image/png")}
        )
        assert image.status_code == 201 and image.json()["content_type"] == "image/png"
        disguised = await portal.post(
            f"/api/portal/tickets/{tid}/attachments",
            files={"file": ("cute.png", b"<svg onload=alert(1)></svg>", "image/png")},
        )
        assert disguised.status_code == 415
        html = await agent.post(
            f"/api/tickets/{tid}/attachments",
            files={"file": ("x.html", b"<html><script>1</script>", "text/html")},
        )
        assert html.status_code == 415
        notes = await agent.post(
            f"/api/tickets/{tid}/attachments",
            files={"file": ("notes.txt", b"plain words", "text/plain")},
        )
        assert notes.status_code == 201

        served = await agent.get(image.json()["url"])
        assert served.content == PNG
        assert served.headers["content-disposition"].startswith("inline")
        assert served.headers["x-content-type-options"] == "nosniff"
        text = await portal.get(notes.json()["url"])
        assert text.headers["content-disposition"].startswith("attachment")
        async with portal_http(desk, eve) as other:
            assert (await other.get(image.json()["url"])).status_code == 404
        detail = (await portal.get(f"/api/portal/tickets/{tid}")).json()
        assert {a["filename"] for a in detail["attachments"]} == {"shot.png", "notes.txt"}


async def test_portal_and_api_calls_need_their_session_and_csrf(desk: LiveDesk) -> None:
    ana = await desk.customer()
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        anonymous = await http.get("/api/portal/tickets")
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_signed_in"
        forged = await http.post(
            "/api/portal/session", json={"token": ana.token + "x", "site": desk.origin}
        )
        assert forged.status_code == 401
    async with portal_http(desk, ana) as portal:
        del portal.headers["X-CSRF-Token"]
        no_csrf = await portal.post("/api/portal/tickets", json={"service_id": BILLING})
        assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf_failed"


async def test_an_emailed_link_signs_the_customer_in_to_their_ticket(desk: LiveDesk) -> None:
    from ticketing.portal_auth import sign_in_link_token

    ana = await desk.customer()
    async with portal_http(desk, ana) as portal:
        tid = (await _ticket_from_portal(portal))["id"]
        customer_id = (await portal.get("/api/portal/me")).json()["customer"]["id"]
    token = sign_in_link_token(desk.runtime.settings.secret_key, customer_id)
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        forged = await http.post("/api/portal/link", json={"token": token + "x"})
        assert forged.status_code == 400 and forged.json()["code"] == "bad_link"
        signed_in = await http.post("/api/portal/link", json={"token": token})
        assert signed_in.status_code == 200
        http.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
        assert (await http.get(f"/api/portal/tickets/{tid}")).status_code == 200
