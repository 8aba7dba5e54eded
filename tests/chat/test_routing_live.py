"""Routing through a running desk: offers, timeouts, declines, capacity, grace, transfers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from chat.models import Chat
from chat.states import EndedBy
from tests.support import AgentConsole, LiveDesk
from ticketing.models import Ticket

SUPPORT, BILLING = 1, 3


async def test_an_unanswered_offer_times_out_and_goes_to_the_next_agent(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await ana.start_chat()
    first = await bea.next_offer(chat["id"])
    carl = await desk.agent("Carl")  # comes online while Bea holds the offer

    await desk.sweep(seconds=desk.runtime.settings.offer_timeout_seconds + 1)
    withdrawn = await bea.expect("offer_withdrawn", lambda f: f["chat_id"] == chat["id"])
    assert withdrawn["reason"] == "expired"
    second = await carl.next_offer(chat["id"])
    assert second["expires_at"] > first["expires_at"]
    await bea.expect_nothing("offer")


async def test_a_declined_chat_goes_to_another_agent_and_never_back(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    carl = await desk.agent("Carl")
    ana = await desk.customer()
    chat = await ana.start_chat()
    # Both are idle with no chats; exactly one of them gets the offer.
    offered_to, other = (bea, carl) if await _got_offer(bea, chat["id"]) else (carl, bea)
    await offered_to.send({"type": "decline", "chat_id": chat["id"]})
    await other.next_offer(chat["id"])
    await offered_to.expect_nothing("offer")


async def _got_offer(console: AgentConsole, chat_id: int) -> bool:
    try:
        await console.expect("offer", lambda f: f["chat"]["id"] == chat_id, timeout=1.5)
        return True
    except TimeoutError:
        return False


async def test_an_agent_at_capacity_gets_no_more_until_a_chat_ends(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", capacity=1)
    ana, bob = await desk.customer(), await desk.customer()
    first = await bea.take(ana, name="Ana")
    second = await bob.start_chat(name="Bob")
    queued = await bob.expect("queue")
    assert queued["queue_position"] == 1
    await bea.expect_nothing("offer", seconds=0.5)

    await bea.end(first["id"])
    offer = await bea.next_offer(second["id"])  # the freed slot is filled at once
    assert offer["chat"]["customer"]["name"] == "Bob"


async def test_the_least_loaded_agent_gets_the_next_chat(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", capacity=3)
    ana = await desk.customer()
    await bea.take(ana)
    carl = await desk.agent("Carl", capacity=3)
    bob = await desk.customer()
    second = await bob.start_chat(name="Bob")
    await carl.next_offer(second["id"])
    await bea.expect_nothing("offer")


async def test_agents_only_get_chats_of_their_services(desk: LiveDesk) -> None:
    billing_only = await desk.agent("Bill", services=[BILLING])
    ana = await desk.customer()
    await ana.send({"type": "start_chat", "service_id": SUPPORT, "name": "Ana", "message": "Help"})
    error = await ana.expect("error")
    assert error["code"] == "desk_unavailable"  # nobody of Support is online
    chat = await ana.start_chat(service_id=BILLING)
    await billing_only.next_offer(chat["id"])


async def test_queue_position_counts_down_as_chats_are_taken(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", capacity=1)
    customers = [await desk.customer() for _ in range(3)]
    chats = [await c.start_chat(name=f"C{i}") for i, c in enumerate(customers)]
    await bea.next_offer(chats[0]["id"])
    third = await customers[2].expect("queue", lambda f: f["queue_position"] == 2)
    assert third["estimated_wait_seconds"] > 0
    await bea.accept(chats[0]["id"])
    await bea.end(chats[0]["id"])
    await customers[2].expect("queue", lambda f: f["queue_position"] == 1)


async def test_a_chat_nobody_takes_becomes_a_missed_chat_and_a_new_ticket(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", capacity=1)
    ana, bob = await desk.customer(), await desk.customer()
    await bea.take(ana)
    chat = await bob.start_chat(name="Bob", message="Anyone there?")

    await desk.sweep(seconds=desk.runtime.settings.max_wait_seconds + 1)
    missed = await bob.expect("missed")
    assert missed["chat_id"] == chat["id"]
    async with desk.runtime.sessions() as session:
        ticket = await session.get(Ticket, missed["ticket_id"])
    assert ticket is not None and ticket.status.value == "new" and ticket.chat_id == chat["id"]

    await bob.send(
        {
            "type": "leave_message",
            "service_id": SUPPORT,
            "name": "Bob",
            "email": "bob@example.com",
            "message": "Please call me back",
        }
    )
    created = await bob.expect("ticket_created")
    assert created["ticket_id"] == missed["ticket_id"]  # the same conversation, one ticket


async def test_a_vanished_agent_gets_a_grace_period_then_chats_go_back_in_front(
    desk: LiveDesk,
) -> None:
    bea = await desk.agent("Bea", capacity=2)
    ana = await desk.customer()
    chat = await bea.take(ana)
    bea.drop()
    await asyncio.sleep(0.3)  # the server notices the socket is gone

    await desk.sweep(seconds=desk.runtime.settings.agent_grace_seconds / 2)
    # Still within the grace period: the chat stays with Bea.
    await ana.expect_nothing("chat", 0.3, where=lambda f: f["chat"]["state"] == "waiting")

    carl = await desk.agent("Carl")
    await desk.sweep(seconds=desk.runtime.settings.agent_grace_seconds)
    requeued = await ana.expect("chat", lambda f: f["chat"]["state"] in ("waiting", "offered"))
    assert requeued["chat"]["agent"] is None
    await carl.next_offer(chat["id"])


async def test_an_agent_who_reconnects_within_grace_keeps_the_chat(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    await bea.say(chat["id"], "one moment")
    bea.drop()
    await ana.say("are you there?")
    await desk.sweep(seconds=5)
    welcome = await bea.connect(seen={chat["id"]: 2})
    assert [c["id"] for c in welcome["chats"]] == [chat["id"]]
    missed = await bea.expect("message", lambda f: f["body"] == "are you there?")
    assert missed["seq"] > 2
    await desk.sweep(seconds=desk.runtime.settings.agent_grace_seconds + 1)
    await ana.expect_nothing("chat", 0.3, where=lambda f: f["chat"]["state"] == "waiting")


async def test_transfer_to_another_service_puts_the_chat_in_that_queue(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", services=[SUPPORT])
    bill = await desk.agent("Bill", services=[BILLING])
    ana = await desk.customer()
    chat = await bea.take(ana, service_id=SUPPORT)
    await bea.send({"type": "transfer", "chat_id": chat["id"], "service_id": BILLING})
    await bea.expect("chat_removed", lambda f: f["chat_id"] == chat["id"])
    offer = await bill.next_offer(chat["id"])
    assert offer["chat"]["service_id"] == BILLING
    await bill.accept(chat["id"])
    history = await bill.expect("message", lambda f: f["body"] == "Hi, my invoice is wrong")
    assert history["seq"] == 1


async def test_transfer_to_a_named_agent_offers_it_to_them(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    carl = await desk.agent("Carl")
    await bea.send({"type": "transfer", "chat_id": chat["id"], "agent_id": carl.agent.id})
    await carl.next_offer(chat["id"])
    await carl.accept(chat["id"])
    assigned = await ana.expect("assigned", lambda f: f["agent"]["name"] == "Carl")
    assert assigned["chat_id"] == chat["id"]


async def test_a_silent_customer_ends_the_chat_by_inactivity(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    await bea.take(ana)
    await desk.sweep(seconds=desk.runtime.settings.customer_inactivity_seconds + 1)
    ended = await ana.expect("ended")
    assert ended["ended_by"] == "inactivity"
    await ana.expect("survey")


async def test_both_sides_ending_at_once_make_exactly_one_ticket(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", capacity=10)
    pairs = []
    for i in range(5):
        customer = await desk.customer()
        chat = await bea.take(customer, name=f"C{i}")
        pairs.append((customer, chat["id"]))
    service = desk.runtime.service

    results = await asyncio.gather(
        *(service.end_chat(chat_id, EndedBy.AGENT, agent=bea.agent) for _, chat_id in pairs),
        *(service.end_chat(chat_id, EndedBy.CUSTOMER) for _, chat_id in pairs),
        return_exceptions=True,
    )
    successes = [r for r in results if isinstance(r, dict)]
    assert len(successes) == 5
    async with desk.runtime.sessions() as session:
        tickets = await session.scalar(select(func.count(Ticket.id)))
        chats = await session.scalar(select(func.count(Chat.id)).where(Chat.state == "ended"))
    assert tickets == 5 and chats == 5


async def test_an_offer_made_while_a_console_says_hello_comes_after_its_welcome(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A console reads the welcome as "the state now" (the real console replaces its offers
    with the welcome's), so nothing may reach it before the welcome: an offer made while
    it says hello, after it followed its agent's channel, comes after the welcome."""
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    dispatcher = desk.runtime.dispatcher
    open_connection = dispatcher.open_connection
    chat: dict[str, Any] = {}

    async def offer_meanwhile(agent_id: int) -> str:
        connection_id = await open_connection(agent_id)
        if not chat:  # once: during the second tab's hello, after it followed Bea's channel
            chat.update(await ana.start_chat())
            await bea.next_offer(chat["id"])  # fanned out to both of Bea's consoles
        return connection_id

    monkeypatch.setattr(dispatcher, "open_connection", offer_meanwhile)
    second_tab = AgentConsole(desk, bea.agent, bea.cookies)
    await second_tab.connect()
    assert chat, "the offer was made during the hello"
    offer = await second_tab.next_offer(chat["id"])
    assert second_tab.frames[0]["type"] == "welcome"  # nothing came before it
    assert second_tab.frames.index(offer) > 0


async def test_a_waiting_customer_hears_of_their_place_at_most_once_a_second(
    desk: LiveDesk,
) -> None:
    """When the line moves fast, every waiting widget's place changes on every refresh;
    each widget is told at most once a second (chat/hub.py), and always of the latest."""
    bea = await desk.agent("Bea", capacity=1)
    customers = [await desk.customer() for _ in range(5)]
    chats = [await c.start_chat(name=f"C{i}") for i, c in enumerate(customers)]
    await bea.next_offer(chats[0]["id"])
    last = customers[4]
    await last.expect("queue", lambda f: f["queue_position"] == 4)
    loop = asyncio.get_running_loop()
    told = [loop.time()]
    last.forget()
    for ahead in customers[1:4]:  # the three ahead leave the line, one after the other
        await ahead.send({"type": "end_chat"})
        await ahead.expect("ended")
    while True:
        frame = await last.expect("queue")
        told.append(loop.time())
        if frame["queue_position"] == 1:
            break
    gaps = [later - earlier for earlier, later in zip(told, told[1:], strict=False)]
    assert all(gap >= 0.8 for gap in gaps), gaps
