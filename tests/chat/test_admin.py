"""Admins edit services (and their hours) and agents; the desk reacts at once."""

from __future__ import annotations

import httpx

from tests.support import AgentConsole, LiveDesk
from ticketing.surveys import survey_link_token

SUPPORT = 1


def _admin_http(desk: LiveDesk, console: AgentConsole) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=desk.base_url,
        cookies=console.cookies,
        headers={"X-CSRF-Token": console.cookies["chatdesk_csrf"]},
    )


async def test_raising_an_agents_capacity_offers_the_waiting_chat_at_once(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea", capacity=1)
    ana, bob = await desk.customer(), await desk.customer()
    first = await ana.start_chat()
    await bea.next_offer(first["id"])
    await bea.accept(first["id"])
    second = await bob.start_chat(name="Bob")
    await bea.expect_nothing("offer", 0.3)
    async with _admin_http(desk, admin) as http:
        changed = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"capacity": 2})
    assert changed.status_code == 200 and changed.json()["capacity"] == 2
    await bea.next_offer(second["id"])


async def test_changing_a_services_hours_closes_it_for_the_widget(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True)
    ana = await desk.customer()
    closed = {"timezone": "Europe/Amsterdam", "weekly": {}, "holidays": [], "exceptions": {}}
    async with _admin_http(desk, admin) as http:
        response = await http.patch(f"/api/admin/services/{SUPPORT}", json={"schedule": closed})
    assert response.status_code == 200
    status = await ana.expect(
        "desk_status",
        lambda f: any(s["id"] == SUPPORT and not s["open"] for s in f["services"]),
    )
    support = next(s for s in status["services"] if s["id"] == SUPPORT)
    assert support["timezone"] == "Europe/Amsterdam" and support["next_open"] is None


async def test_admin_settings_refuse_bad_input_and_non_admins(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea", online=False)
    async with _admin_http(desk, admin) as http:
        bad_zone = await http.patch(
            f"/api/admin/services/{SUPPORT}",
            json={"schedule": {"timezone": "Mars/Olympus", "weekly": {}}},
        )
        assert bad_zone.status_code == 422 and "Mars/Olympus" in bad_zone.json()["message"]
        bad_capacity = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"capacity": -1})
        assert bad_capacity.status_code == 422
        demote_self = await http.patch(
            f"/api/admin/agents/{admin.agent.id}", json={"role": "agent"}
        )
        assert demote_self.status_code == 422
        created = await http.post(
            "/api/admin/services",
            json={
                "name": "Returns",
                "schedule": {
                    "timezone": "America/New_York",
                    "weekly": {"mon": ["09:00-12:00", "13:00-18:00"]},
                },
            },
        )
        assert created.status_code == 201 and created.json()["name"] == "Returns"
        names = [s["name"] for s in (await http.get("/api/admin/services")).json()["items"]]
        assert "Returns" in names
    async with _admin_http(desk, bea) as http:
        refused = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"capacity": 9})
        assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
    async with httpx.AsyncClient(base_url=desk.base_url, cookies=admin.cookies) as http:
        no_csrf = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"capacity": 9})
        assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf_failed"


async def test_the_signed_survey_link_rates_the_ticket_once(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await ana.start_chat()
    await bea.next_offer(chat["id"])
    await bea.accept(chat["id"])
    await bea.end(chat["id"])
    survey = await ana.expect("survey")
    token = survey_link_token(desk.runtime.settings.secret_key, survey["ticket_id"])
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        forged = await http.post(f"/api/surveys/{token}x", json={"rating": 5})
        assert forged.status_code == 404
        answered = await http.post(f"/api/surveys/{token}", json={"rating": 3, "comment": "ok"})
        assert answered.status_code == 200 and answered.json()["rating"] == 3
        again = await http.post(f"/api/surveys/{token}", json={"rating": 5})
        assert again.status_code == 409
    await ana.send({"type": "rate", "rating": 5})
    assert (await ana.expect("error"))["code"] == "survey_already_answered"
    ana.drop()
    welcome = await ana.connect()
    assert welcome["chat"]["survey"] == "answered"
