"""Beside a chat: the customer's details and history, and colleagues to transfer it to.

The context shows an agent only what they could open anyway; nobody else gets it.
"""

from __future__ import annotations

from typing import Any

import httpx

from chat.models import Chat
from tests.support import AgentConsole, Customer, LiveDesk
from tests.ticketing.test_api import agent_http, portal_http
from ticketing.db import transaction
from ticketing.models import Customer as CustomerRow
from ticketing.models import Organization

SUPPORT, BILLING = 1, 3


async def _chat_with(
    agent: AgentConsole, customer: Customer, service_id: int = SUPPORT, **kw: Any
) -> int:
    """The customer starts a chat (their earlier one has ended) and the agent takes it."""
    earlier = customer.chat_id or 0
    await customer.send(
        {
            "type": "start_chat",
            "service_id": service_id,
            "name": kw.get("name", "Ana"),
            "email": "ana@example.com",
            "subject": kw.get("subject", ""),
            "message": "Hello again",
        }
    )
    chat = (await customer.expect("chat", lambda f: f["chat"]["id"] > earlier))["chat"]
    customer.chat_id = chat["id"]
    await agent.next_offer(chat["id"])
    await agent.accept(chat["id"])
    return int(chat["id"])


async def _context(http: httpx.AsyncClient, chat_id: int, query: str = "") -> dict[str, Any]:
    response = await http.get(f"/api/chats/{chat_id}/context{query}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_the_agent_sees_who_the_customer_is_and_their_history(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", services=[SUPPORT])
    ana = await desk.customer()
    earlier = await _chat_with(bea, ana, subject="Login fails", name="Ana Souza")
    await bea.end(earlier, status="open")  # follow-up: its ticket stays open
    async with transaction(desk.runtime.sessions) as session:
        chat_row = await session.get(Chat, earlier)
        assert chat_row is not None
        organization = Organization(name="Acme", domain="acme.test")
        session.add(organization)
        await session.flush()
        customer_row = await session.get(CustomerRow, chat_row.customer_id)
        assert customer_row is not None
        customer_row.organization_id = organization.id
        ticket_id = chat_row.ticket_id
    now = await _chat_with(bea, ana, name="Ana Souza")

    async with agent_http(desk, bea) as http:
        context = await _context(http, now)
    assert context["customer"] == {
        "id": context["customer"]["id"],
        "name": "Ana Souza",
        "email": "ana@example.com",
        "organization": {"id": organization.id, "name": "Acme"},
    }
    [before] = context["chats"]
    assert before["id"] == earlier and before["subject"] == "Login fails"
    assert before["service"] == {"id": SUPPORT, "name": "Support"}
    assert before["agent"] == {"id": bea.agent.id, "name": "Bea"}
    assert before["outcome"] == "follow_up" and before["ticket_id"] == ticket_id
    [ticket] = context["tickets"]
    assert ticket["id"] == ticket_id and ticket["status"] == "open"
    assert ticket["subject"] and ticket["updated_at"]
    assert context["more_chats"] is False and context["more_tickets"] is False


async def test_history_shows_only_what_the_agent_may_open_and_is_limited(
    desk: LiveDesk,
) -> None:
    bea = await desk.agent("Bea", services=[SUPPORT], capacity=5)
    bill = await desk.agent("Bill", services=[BILLING], capacity=5)
    admin = await desk.agent("Ada", admin=True, online=False)
    ana = await desk.customer()
    for service, agent in ((BILLING, bill), (SUPPORT, bea), (SUPPORT, bea)):
        chat_id = await _chat_with(agent, ana, service_id=service)
        await agent.end(chat_id)
    now = await _chat_with(bea, ana)

    async with agent_http(desk, bea) as http:
        mine = await _context(http, now)
        assert [c["service"]["id"] for c in mine["chats"]] == [SUPPORT, SUPPORT]
        assert {c["outcome"] for c in mine["chats"]} == {"resolved"}
        assert len(mine["tickets"]) == 2
        short = await _context(http, now, "?limit=1")
        assert len(short["chats"]) == 1 and short["more_chats"] is True
        assert len(short["tickets"]) == 1 and short["more_tickets"] is True
        for limit in ("0", "51", "x", "²", "9" * 5000):
            bad = await http.get(f"/api/chats/{now}/context", params={"limit": limit})
            assert bad.status_code == 422 and bad.json()["code"] == "bad_query", limit
    async with agent_http(desk, admin) as http:
        everything = await _context(http, now)
        assert len(everything["chats"]) == 3 and len(everything["tickets"]) == 3


async def test_nobody_else_gets_the_context(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", services=[SUPPORT])
    bill = await desk.agent("Bill", services=[BILLING], online=False)
    ana = await desk.customer()
    chat_id = await _chat_with(bea, ana)
    path = f"/api/chats/{chat_id}/context"
    async with agent_http(desk, bill) as http:
        other_service = await http.get(path)
        missing = await http.get("/api/chats/999999/context")
    assert other_service.status_code == 404 and other_service.json()["code"] == "chat_not_found"
    assert missing.json() == other_service.json()  # a refusal doesn't say the chat exists
    async with portal_http(desk, ana) as portal:
        as_customer = await portal.get(path)
    assert as_customer.status_code == 401 and as_customer.json()["code"] == "not_logged_in"
    async with httpx.AsyncClient(base_url=desk.base_url) as anonymous:
        assert (await anonymous.get(path)).status_code == 401
        assert (await anonymous.get("/api/agents")).status_code == 401


async def test_an_offered_chat_shows_its_context_to_the_agent_it_is_offered_to(
    desk: LiveDesk,
) -> None:
    admin = await desk.agent("Ada", admin=True)
    ana = await desk.customer()
    chat = await ana.start_chat(service_id=BILLING)
    await admin.next_offer(chat["id"])
    async with agent_http(desk, admin) as http:
        assert (await _context(http, chat["id"]))["chats"] == []


# ---------------------------------------------------------------- transfer to a colleague


async def test_the_roster_puts_who_can_take_a_chat_first(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", capacity=2)
    ana = await desk.customer()
    await _chat_with(bea, ana)
    await desk.agent("Cid", capacity=2)
    await desk.agent("Dora", capacity=2, online=False)
    await desk.agent("Eve", capacity=0)
    async with agent_http(desk, bea) as http:
        roster = (await http.get("/api/agents")).json()["items"]
    by_name = {a["name"]: a for a in roster}
    assert [a["name"] for a in roster[:2]] == ["Cid", "Bea"]  # least loaded first
    assert by_name["Bea"]["open_chats"] == 1 and by_name["Bea"]["available"] is True
    assert by_name["Dora"]["presence"] == "offline" and by_name["Dora"]["available"] is False
    assert by_name["Eve"]["presence"] == "online" and by_name["Eve"]["available"] is False
    assert "email" not in by_name["Cid"]


async def test_transfer_to_a_named_agent_over_the_console_protocol(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", services=[SUPPORT])
    ana = await desk.customer()
    chat_id = await _chat_with(bea, ana)
    full = await desk.agent("Finn", services=[SUPPORT], capacity=0)
    away = await desk.agent("Gus", services=[SUPPORT], online=False)

    # Full or not online: refused with a reason, the chat stays Bea's.
    for target in (full, away):
        await bea.send({"type": "transfer", "chat_id": chat_id, "agent_id": target.agent.id})
        refused = await bea.expect("error", lambda f: f["ref"] == "transfer")
        assert refused["code"] == "agent_unavailable"
    await bea.say(chat_id, "still here")

    cid = await desk.agent("Cid", services=[BILLING])
    await bea.send({"type": "transfer", "chat_id": chat_id, "agent_id": cid.agent.id})
    await bea.expect("chat_removed", lambda f: f["chat_id"] == chat_id)
    offer = await cid.next_offer(chat_id)
    assert offer["chat"]["customer"]["name"] == "Ana"
    # The agent it is offered to may read its context before accepting, across services.
    async with agent_http(desk, cid) as http:
        assert (await http.get(f"/api/chats/{chat_id}/context")).status_code == 200
    await cid.accept(chat_id)
    assigned = await ana.expect("assigned", lambda f: f["agent"]["name"] == "Cid")
    assert assigned["chat_id"] == chat_id
    await cid.say(chat_id, "Cid here")
    await ana.message("Cid here")
