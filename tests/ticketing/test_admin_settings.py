"""Admins set up categories, organizations and SLA targets; tickets follow at once."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.support import LiveDesk
from tests.ticketing.test_api import agent_http, portal_http
from ticketing.models import Customer
from ticketing.portal_auth import PORTAL_COOKIE, start_customer_session

BILLING = 3


async def test_categories_become_required_in_the_portal_form(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    ana = await desk.customer()
    async with agent_http(desk, admin) as http:
        made = await http.post(
            f"/api/admin/services/{BILLING}/categories", json={"name": "Refunds"}
        )
        assert made.status_code == 201
        duplicate = await http.post(
            f"/api/admin/services/{BILLING}/categories", json={"name": "Refunds"}
        )
        assert duplicate.status_code == 422
        listed = (await http.get(f"/api/services/{BILLING}/categories")).json()["items"]
        assert listed == [{"id": made.json()["id"], "name": "Refunds"}]
    async with portal_http(desk, ana) as portal:
        missing = await portal.post(
            "/api/portal/tickets",
            json={"service_id": BILLING, "subject": "Refund", "message": "please"},
        )
        assert missing.status_code == 422 and "category" in missing.json()["message"]
        ok = await portal.post(
            "/api/portal/tickets",
            json={
                "service_id": BILLING,
                "category_id": made.json()["id"],
                "subject": "Refund",
                "message": "please",
            },
        )
        assert ok.status_code == 201 and ok.json()["category_id"] == made.json()["id"]


async def test_a_colleagues_ticket_waits_for_the_designated_contacts_approval(
    desk: LiveDesk,
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with agent_http(desk, admin) as http:
        org = await http.post(
            "/api/admin/organizations",
            json={
                "name": "Shop",
                "domain": "shop.example",
                "requires_approval": True,
                "contacts": ["boss@shop.example"],
            },
        )
        assert org.status_code == 201
        assert [c["email"] for c in org.json()["contacts"]] == ["boss@shop.example"]
        clash = await http.post(
            "/api/admin/organizations", json={"name": "Copy", "domain": "shop.example"}
        )
        assert clash.status_code == 422

    worker = await desk.customer()
    await worker.send(
        {
            "type": "leave_message",
            "service_id": BILLING,
            "name": "Sam",
            "email": "sam@shop.example",
            "message": "hello",
        }
    )
    await worker.expect("ticket_created")
    async with portal_http(desk, worker) as portal:
        ticket = (
            await portal.post(
                "/api/portal/tickets",
                json={"service_id": BILLING, "subject": "New laptop", "message": "for me"},
            )
        ).json()
        assert ticket["awaiting_approval"] is True and "boss@shop.example" in ticket["cc"]
        self_approval = await portal.post(f"/api/portal/tickets/{ticket['id']}/approve", json={})
        assert self_approval.status_code == 403
    async with agent_http(desk, admin) as agent:
        blocked = await agent.post(
            f"/api/tickets/{ticket['id']}/status", json={"status": "pending"}
        )
        assert blocked.status_code == 409
    # The designated contact signs in as the customer the admin named (by the emailed
    # link); an unverified email typed into a widget grants no approval rights.
    async with desk.runtime.sessions() as session:
        boss_id = await session.scalar(
            select(Customer.id).where(Customer.email == "boss@shop.example")
        )
    assert boss_id is not None
    token, csrf = await start_customer_session(desk.runtime.sessions, boss_id, desk.clock)
    async with httpx.AsyncClient(
        base_url=desk.base_url, cookies={PORTAL_COOKIE: token}, headers={"X-CSRF-Token": csrf}
    ) as portal:
        listed = (await portal.get("/api/portal/tickets", params={"view": "all"})).json()
        assert ticket["id"] in [t["id"] for t in listed["items"]]
        approved = await portal.post(f"/api/portal/tickets/{ticket['id']}/approve", json={})
        assert approved.status_code == 200 and approved.json()["awaiting_approval"] is False


async def test_service_sla_targets_and_inactivity_policy_are_editable(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    targets = {
        "pickup_hours": {"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": None},
        "resolution_hours": {"P1": 2, "P2": 4, "P3": 8, "P4": None, "P5": None},
    }
    async with agent_http(desk, admin) as http:
        changed = await http.patch(
            f"/api/admin/services/{BILLING}",
            json={"sla_targets": targets, "inactivity_policy": {"wait_days": 30, "reminders": 2}},
        )
        assert changed.status_code == 200
        assert changed.json()["inactivity_policy"]["reminders"] == 2
        bad = await http.patch(
            f"/api/admin/services/{BILLING}", json={"sla_targets": {"pickup_hours": {"P1": -4}}}
        )
        assert bad.status_code == 422 and "SLA" in bad.json()["message"]
        worse = await http.patch(
            f"/api/admin/services/{BILLING}", json={"inactivity_policy": {"snooze": 1}}
        )
        assert worse.status_code == 422
    ana = await desk.customer()
    async with portal_http(desk, ana) as portal:
        tid = (
            await portal.post(
                "/api/portal/tickets", json={"service_id": BILLING, "subject": "x", "message": "y"}
            )
        ).json()["id"]
    async with agent_http(desk, admin) as agent:
        sla = (await agent.get(f"/api/tickets/{tid}")).json()["sla"]
    assert sla["pickup"]["target_seconds"] == 3 * 3600


async def test_the_hours_editors_schedule_round_trips_and_bad_hours_say_why(
    desk: LiveDesk,
) -> None:
    """What the Admin tab's hours editor sends: intervals per weekday (one ending at
    midnight, one past it), holidays, and exceptions it does not edit but keeps."""
    admin = await desk.agent("Ada", admin=True, online=False)
    schedule = {
        "timezone": "America/Sao_Paulo",
        "weekly": {"mon": ["08:00-12:00", "13:00-00:00"], "fri": ["22:00-02:00"]},
        "holidays": ["2026-12-25", "2026-11-20"],
        "exceptions": {"2026-12-24": ["08:00-12:00"]},
    }
    async with agent_http(desk, admin) as http:
        saved = await http.patch(
            f"/api/admin/services/{BILLING}",
            json={"schedule": schedule, "inactivity_policy": None, "position": 7},
        )
        assert saved.status_code == 200, saved.text
        view = saved.json()
        assert view["schedule"]["weekly"]["mon"] == ["08:00-12:00", "13:00-24:00"]
        assert view["schedule"]["holidays"] == ["2026-11-20", "2026-12-25"]  # sorted
        assert view["schedule"]["exceptions"] == {"2026-12-24": ["08:00-12:00"]}
        assert view["inactivity_policy"]["wait_days"] == 3  # back to the default
        assert view["position"] == 7
        for bad, words in [
            ({**schedule, "weekly": {"mon": ["9-5"]}}, "expected HH:MM"),
            ({**schedule, "holidays": ["25/12/2026"]}, "Invalid business hours"),
            ({**schedule, "timezone": ""}, "Invalid business hours"),
        ]:
            refused = await http.patch(f"/api/admin/services/{BILLING}", json={"schedule": bad})
            assert refused.status_code == 422 and words in refused.json()["message"], bad
        listed = (await http.get("/api/admin/services")).json()["items"]
        billing = next(s for s in listed if s["id"] == BILLING)
        assert (
            billing["schedule"]["timezone"] == "America/Sao_Paulo"
        )  # the refusals changed nothing
        assert listed[-1]["id"] == BILLING  # ordered by position
