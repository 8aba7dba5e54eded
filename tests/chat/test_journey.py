"""The whole journey, through a real server and real websockets:
customer → queue → agent → messages both ways → end → ticket → rating."""

from __future__ import annotations

import httpx

from tests.support import LiveDesk


async def test_customer_and_agent_chat_end_to_end_and_the_ticket_keeps_the_transcript(
    desk: LiveDesk,
) -> None:
    bea = await desk.agent("Bea", capacity=2)
    ana = await desk.customer()

    chat = await ana.start_chat(message="Hi, my invoice is wrong", subject="Invoice")
    assert chat["state"] == "waiting"
    await ana.message("Hi, my invoice is wrong")

    offer = await bea.next_offer(chat["id"])
    assert offer["chat"]["customer"]["name"] == "Ana"
    assert offer["chat"]["first_message"] == "Hi, my invoice is wrong"
    await bea.accept(chat["id"])
    assigned = await ana.expect("assigned")
    assert assigned["agent"]["name"] == "Bea"
    # The accepted chat's snapshot: its agent, what the customer asked first, the join line.
    active = (await ana.expect("chat", lambda f: f["chat"]["state"] == "active"))["chat"]
    assert active["agent"] == assigned["agent"]
    assert active["first_message"] == "Hi, my invoice is wrong"
    assert active["last_seq"] == 2  # the first line, then the join
    joined = await ana.expect("message", lambda f: f["sender"] == "system")
    # Each viewer renders system lines in their own language from the key.
    assert joined["i18n"] == {"key": "system.agent_joined", "params": {"name": "Bea"}}
    assert joined["body"] == "Bea joined the chat"

    await bea.expect("message", lambda f: f["body"] == "Hi, my invoice is wrong")
    await bea.say(chat["id"], "Hello Ana, let me look.")
    await ana.message("Hello Ana, let me look.")
    ack = await ana.say("Thanks!")
    seen_by_bea = await bea.expect("message", lambda f: f["body"] == "Thanks!")
    assert seen_by_bea["seq"] == ack["seq"]

    await bea.end(chat["id"], "resolved")
    ended = await ana.expect("ended")
    survey = await ana.expect("survey")
    assert ended["ticket_id"] == survey["ticket_id"]

    await ana.send({"type": "rate", "rating": 5, "comment": "Quick and kind"})
    assert (await ana.expect("rated"))["rating"] == 5

    async with httpx.AsyncClient(base_url=desk.base_url, cookies=bea.cookies) as http:
        ticket = (await http.get(f"/api/tickets/{ended['ticket_id']}")).json()
    assert ticket["status"] == "resolved"
    assert ticket["origin"] == "chat"
    assert ticket["subject"] == "Invoice"
    assert ticket["requester"]["name"] == "Ana"
    assert ticket["agent"]["name"] == "Bea"
    bodies = [m["body"] for m in ticket["messages"]]
    assert bodies[0] == "Hi, my invoice is wrong"
    assert "Hello Ana, let me look." in bodies and "Thanks!" in bodies
    assert bodies[-1] == "Chat ended by the agent"
    assert ticket["survey"]["rating"] == 5
    assert ticket["survey"]["comment"] == "Quick and kind"
