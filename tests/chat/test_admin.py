"""Admins edit services (and their hours) and agents; the desk reacts at once."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import AgentConsole, LiveDesk
from tests.ticketing.test_api import agent_http
from ticketing.surveys import survey_link_token

SUPPORT = 1


async def bob_waits_for_busy_bea(
    desk: LiveDesk,
) -> tuple[AgentConsole, AgentConsole, dict[str, Any]]:
    """Ada (an admin, offline), Bea (capacity 1, busy with Ana's chat) and Bob's chat,
    which waits: (Ada, Bea, Bob's chat). The start of every test of a change to Bea."""
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea", capacity=1)
    ana, bob = await desk.customer(), await desk.customer()
    await bea.take(ana)
    return admin, bea, await bob.start_chat(name="Bob")


async def test_raising_an_agents_capacity_offers_the_waiting_chat_at_once(desk: LiveDesk) -> None:
    admin, bea, second = await bob_waits_for_busy_bea(desk)
    await bea.expect_nothing("offer", 0.3)
    async with agent_http(desk, admin) as http:
        changed = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"capacity": 2})
    assert changed.status_code == 200 and changed.json()["capacity"] == 2
    await bea.next_offer(second["id"])


async def test_changing_a_services_hours_closes_it_for_the_widget(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True)
    ana = await desk.customer()
    closed = {"timezone": "Europe/Amsterdam", "weekly": {}, "holidays": [], "exceptions": {}}
    async with agent_http(desk, admin) as http:
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
    async with agent_http(desk, admin) as http:
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
    async with agent_http(desk, bea) as http:
        refused = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"capacity": 9})
        assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
    async with httpx.AsyncClient(base_url=desk.base_url, cookies=admin.cookies) as http:
        no_csrf = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"capacity": 9})
        assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf_failed"


async def test_the_signed_survey_link_rates_the_ticket_once(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
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


async def test_an_admin_adds_an_agent_who_can_then_sign_in(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with agent_http(desk, admin) as http:
        created = await http.post(
            "/api/admin/agents",
            json={
                "email": " Cleo@Desk.TEST ",
                "name": "Cleo",
                "password": "a long secret",
                "services": [SUPPORT],
                "capacity": 2,
            },
        )
        assert created.status_code == 201, created.text
        cleo = created.json()
        assert cleo["email"] == "cleo@desk.test" and cleo["role"] == "agent"
        assert cleo["services"] == [SUPPORT] and cleo["capacity"] == 2 and cleo["active"]
        listed = (await http.get("/api/admin/agents")).json()["items"]
        assert "cleo@desk.test" in [a["email"] for a in listed]
        for body, words in [
            ({"email": "cleo@desk.test", "name": "Cleo 2", "password": "another one"}, "exists"),
            ({"email": "not-an-email", "name": "X", "password": "long enough"}, "email address"),
            ({"email": "x@desk.test", "name": "X", "password": "short"}, "at least 8"),
            (
                {"email": "x@desk.test", "name": "X", "password": "long enough", "role": "boss"},
                "role",
            ),
            (
                {"email": "x@desk.test", "name": "X", "password": "long enough", "services": [999]},
                "exist",
            ),
            ({"email": "x@desk.test", "name": "X"}, "needs"),
        ]:
            refused = await http.post("/api/admin/agents", json=body)
            assert refused.status_code == 422 and words in refused.json()["message"], body
        audit = (await http.get("/api/admin/audit?action=agent_changed")).json()["items"]
        assert audit[0]["target"] == f"agent:{cleo['id']}" and audit[0]["details"]["created"]
        assert "password" not in str(audit[0]["details"])
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        login = await http.post(
            "/api/auth/login", json={"email": "cleo@desk.test", "password": "a long secret"}
        )
        assert login.status_code == 200


async def test_services_list_their_categories_and_names_stay_unique(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with agent_http(desk, admin) as http:
        made = await http.post(f"/api/admin/services/{SUPPORT}/categories", json={"name": "Bugs"})
        assert made.status_code == 201 and made.json()["active"] is True
        other = await http.post(f"/api/admin/services/{SUPPORT}/categories", json={"name": "Ideas"})
        clash = await http.patch(
            f"/api/admin/categories/{other.json()['id']}", json={"name": "Bugs"}
        )
        assert clash.status_code == 422
        retired = await http.patch(
            f"/api/admin/categories/{made.json()['id']}", json={"active": False}
        )
        assert retired.json()["active"] is False
        services = (await http.get("/api/admin/services")).json()["items"]
        support = next(s for s in services if s["id"] == SUPPORT)
        names = {c["name"]: c["active"] for c in support["categories"]}
        assert names["Bugs"] is False and names["Ideas"] is True
        taken = next(s["name"] for s in services if s["id"] != SUPPORT)
        renamed = await http.patch(f"/api/admin/services/{SUPPORT}", json={"name": taken})
        assert renamed.status_code == 422 and "exists already" in renamed.json()["message"]
        audit = (await http.get("/api/admin/audit?action=settings_changed")).json()["items"]
        assert any(e["target"] == f"category:{made.json()['id']}" for e in audit)


async def test_an_agent_taken_off_a_service_stops_seeing_its_queue_at_once(
    desk: LiveDesk,
) -> None:
    """The console's queue follows the agent's services without a reconnect: customer
    names and subjects of a service are no longer shown to someone taken off it."""
    admin, bea, second = await bob_waits_for_busy_bea(desk)
    await bea.expect(
        "queue", lambda f: [e["chat_id"] for e in f.get("waiting", [])] == [second["id"]]
    )
    async with agent_http(desk, admin) as http:
        others = [s["id"] for s in (await http.get("/api/admin/services")).json()["items"]]
        other = next(i for i in others if i != SUPPORT)
        changed = await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"services": [other]})
    assert changed.status_code == 200
    await bea.expect("queue", lambda f: f.get("waiting") == [])
