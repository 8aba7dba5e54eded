"""The same thing shows the same fields to the same viewer over the websocket and HTTP.

Zammad's CVE-2022-40816: its websocket pushed ticket fields the REST API hid from
customers. Here one chat is followed through its life into a ticket, and each
viewer's two paths are compared field by field:

* customer: the widget's chat snapshot and transcript lines (resume, fetch) against
  the portal's ticket the chat became;
* agent: the console's snapshot and lines against the agent API's ticket;
* internal notes: none reaches the customer by any path — widget, portal, email,
  the emailed transcript, a customer-facing webhook — while agents' paths have it.

The views come from one function per object (docs/security.md): `ChatService.snapshot`
for chats (both sockets), `message_frame` for chat lines, `ticket_summary` /
`agent_summary` / `message_view` in ticketing/tickets.py for tickets (HTTP, portal,
webhooks). These tests keep them from drifting apart.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from chat.models import Chat
from tests.support import AgentConsole, Customer, LiveDesk
from tests.ticketing.test_api import agent_http, portal_http
from ticketing.models import AuthorType
from ticketing.outbox import OutboxEmail, WebhookDelivery, WebhookEndpoint
from ticketing.webhooks import EVENT_TYPES

SUPPORT = 1
SECRET_NOTE = "INTERNAL: customer flagged for fraud review, do not refund"
# What every viewer of a chat line sees over a socket (docs/protocol.md, "message").
LINE_FIELDS = {
    "type",
    "chat_id",
    "seq",
    "sender",
    "author_name",
    "body",
    "client_id",
    "i18n",
    "attachment",
    "created_at",
}
# What a customer sees of a ticket's line in the portal (no `internal` ones at all).
PORTAL_LINE_FIELDS = {"id", "author_type", "author_name", "body", "internal", "created_at"}
SENDER_OF = {AuthorType.CUSTOMER.value: "customer", AuthorType.AGENT.value: "agent"}


async def _webhooks(desk: LiveDesk) -> None:
    """One endpoint for the desk's own systems, one customer-facing (a status page)."""
    async with desk.runtime.sessions() as session, session.begin():
        for facing in (False, True):
            session.add(
                WebhookEndpoint(
                    url=f"http://127.0.0.1:9/hook-{facing}",
                    secret="s" * 32,
                    event_types=list(EVENT_TYPES),
                    customer_facing=facing,
                    created_at=desk.clock.now(),
                )
            )


async def _a_chat_that_became_a_ticket(
    desk: LiveDesk,
) -> tuple[Customer, AgentConsole, int, int]:
    bea = await desk.agent("Bea", services=[SUPPORT])
    ana = await desk.customer()
    chat = await bea.take(ana, name="Ana", email="ana@example.com", message="My invoice is wrong")
    await ana.expect("assigned")
    await bea.say(chat["id"], "Let me check that for you.")
    await ana.say("Thanks, it is INV-7.")
    await bea.say(chat["id"], "Fixed, a credit note is on its way.")
    await bea.end(chat["id"])
    ended = await ana.expect("ended")
    ticket_id = ended["ticket_id"]
    async with agent_http(desk, bea) as http:
        note = await http.post(
            f"/api/tickets/{ticket_id}/replies", json={"body": SECRET_NOTE, "internal": True}
        )
        assert note.status_code in (200, 201), note.text
    await desk.runtime.bus.flush()
    return ana, bea, chat["id"], ticket_id


async def _resumed(desk: LiveDesk, ana: Customer, chat_id: int) -> Customer:
    """The customer's widget comes back and asks for everything (a new page view)."""
    back = Customer(desk, ana.token)
    welcome = await back.connect()
    assert welcome["chat"]["id"] == chat_id
    await back.send({"type": "fetch", "after_seq": 0})
    last_seq = welcome["chat"]["last_seq"]
    await back.expect("message", lambda f: f["seq"] == last_seq)
    return back


def _lines(frames: list[dict[str, Any]], chat_id: int) -> list[dict[str, Any]]:
    by_seq = {f["seq"]: f for f in frames if f["type"] == "message" and f["chat_id"] == chat_id}
    return [by_seq[seq] for seq in sorted(by_seq)]


async def test_a_customer_sees_the_same_chat_over_the_widget_and_the_portal(
    desk: LiveDesk,
) -> None:
    await _webhooks(desk)
    ana, _bea, chat_id, ticket_id = await _a_chat_that_became_a_ticket(desk)
    back = await _resumed(desk, ana, chat_id)
    snapshot = back.seen("welcome")[0]["chat"]
    socket_lines = _lines(back.frames, chat_id)
    async with portal_http(desk, back) as http:
        response = await http.get(f"/api/portal/tickets/{ticket_id}")
        assert response.status_code == 200
        portal = response.json()

    # The chat and the ticket it became name each other, the people the same way.
    assert snapshot["ticket_id"] == ticket_id and portal["chat_id"] == chat_id
    assert snapshot["agent"] == portal["agent"]  # {id, name}: no more over the socket
    assert ana.seen("assigned")[0]["agent"] == portal["agent"]
    assert snapshot["customer"] == portal["requester"]

    # Every line has the documented fields, on both paths, and nothing else.
    assert all(set(line) == LINE_FIELDS for line in socket_lines)
    assert all(set(line) == PORTAL_LINE_FIELDS for line in portal["messages"])
    assert not any(line["internal"] for line in portal["messages"])
    # The same people's words in the same order (system lines are the chat's own).
    said = [
        (line["sender"], line["author_name"], line["body"])
        for line in socket_lines
        if line["sender"] != "system"
    ]
    filed = [
        (SENDER_OF[line["author_type"]], line["author_name"], line["body"])
        for line in portal["messages"]
        if line["author_type"] in SENDER_OF
    ]
    assert said == filed

    # The note is on the agents' side only: nothing a customer can reach carries it.
    await back.send({"type": "email_transcript", "email": "ana@example.com"})
    await back.expect("transcript_emailed")
    await desk.runtime.bus.flush()
    assert SECRET_NOTE not in json.dumps(back.frames) + json.dumps(ana.frames)
    assert SECRET_NOTE not in json.dumps(portal)
    async with desk.runtime.sessions() as session:
        emails = list(await session.scalars(select(OutboxEmail)))
        deliveries = list(await session.scalars(select(WebhookDelivery)))
        facing = {e.id: e.customer_facing for e in await session.scalars(select(WebhookEndpoint))}
    assert {e.kind for e in emails} >= {"created", "transcript"}
    for email in emails:
        assert SECRET_NOTE not in email.text_body + email.html_body + email.subject, email.kind
    to_customers = [d for d in deliveries if facing[d.endpoint_id]]
    to_desk = [d for d in deliveries if not facing[d.endpoint_id]]
    assert to_customers and to_desk
    assert all(SECRET_NOTE not in d.body for d in to_customers)
    assert any(SECRET_NOTE in d.body for d in to_desk)  # the desk's own systems do get it
    for delivery in to_customers:  # and a customer-facing ticket is the portal's ticket
        ticket = json.loads(delivery.body).get("data", {}).get("ticket")
        if ticket is not None:
            assert set(ticket) == set(portal) - {
                "messages",
                "attachments",
                "survey",
                "allowed_statuses",
                "close_reasons",
            }, delivery.event_type


async def test_an_agent_sees_the_same_chat_over_the_console_and_the_api(desk: LiveDesk) -> None:
    ana, bea, chat_id, ticket_id = await _a_chat_that_became_a_ticket(desk)
    console_chat = [f["chat"] for f in bea.seen("chat") if f["chat"]["id"] == chat_id][-1]
    widget_chat = [f["chat"] for f in ana.seen("chat") if f["chat"]["id"] == chat_id][-1]
    # One snapshot function for both sockets: the same fields, the same values.
    assert set(console_chat) == set(widget_chat)
    assert console_chat == widget_chat
    console_lines = _lines(bea.frames, chat_id)
    widget_lines = _lines(ana.frames, chat_id)
    assert [set(line) for line in console_lines] == [LINE_FIELDS] * len(console_lines)
    assert [(w["seq"], w["body"]) for w in widget_lines] == [
        (c["seq"], c["body"]) for c in console_lines
    ]
    async with agent_http(desk, bea) as http:
        ticket = (await http.get(f"/api/tickets/{ticket_id}")).json()
    assert ticket["chat_id"] == chat_id and console_chat["ticket_id"] == ticket_id
    assert console_chat["agent"] == ticket["agent"]
    assert console_chat["customer"] == ticket["requester"]
    assert [m["body"] for m in ticket["messages"] if m["internal"]] == [SECRET_NOTE]
    public = [
        (SENDER_OF[m["author_type"]], m["author_name"], m["body"])
        for m in ticket["messages"]
        if not m["internal"] and m["author_type"] in SENDER_OF
    ]
    spoken = [
        (line["sender"], line["author_name"], line["body"])
        for line in console_lines
        if line["sender"] != "system"
    ]
    assert public == spoken
    async with desk.runtime.sessions() as session:
        stored = await session.get(Chat, chat_id)
    assert stored is not None and stored.ticket_id == ticket_id
