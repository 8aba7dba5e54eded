"""Nothing said is lost: resume after a dropped connection, resend without doubling."""

from __future__ import annotations

from sqlalchemy import func, select

from chat.models import ChatMessage
from chat.transcripts import messages_after_many
from tests.conftest import Backend
from tests.support import LiveDesk, start_desk


async def test_a_customer_who_reconnects_gets_what_they_missed_in_order(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    await ana.say("before the tunnel")  # confirmed by its echo: seen, so not replayed
    ana.drop()
    dropped_at = len(ana.frames)
    for n in range(3):
        await bea.say(chat["id"], f"while away {n}")

    welcome = await ana.connect()  # same token, last_seq remembered
    assert welcome["chat"]["id"] == chat["id"] and welcome["chat"]["state"] == "active"
    replayed = [await ana.message(f"while away {n}") for n in range(3)]
    seqs = [m["seq"] for m in replayed]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    early = [f for f in ana.frames[dropped_at:] if f.get("body") == "before the tunnel"]
    assert early == []  # already seen before the drop: not sent again

    await ana.say("back again")
    await bea.expect("message", lambda f: f["body"] == "back again")


async def test_a_resent_message_is_stored_once_and_acked_with_the_same_seq(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    await bea.take(ana)
    first = await ana.say("only once please", client_id="c-1")
    ana.drop()
    await ana.connect()
    again = await ana.say("only once please", client_id="c-1")
    assert again["seq"] == first["seq"]
    async with desk.runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(ChatMessage.body == "only once please")
        )
    assert count == 1


async def test_a_client_that_sees_a_gap_can_fetch_it(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    for n in range(4):
        await bea.say(chat["id"], f"line {n}")
    await ana.send({"type": "fetch", "after_seq": 2})
    fetched = [await ana.expect("message", lambda f, n=n: f["seq"] == n) for n in (3, 4, 5)]
    assert [f["seq"] for f in fetched] == [3, 4, 5]


async def test_a_page_reload_resumes_the_same_chat_with_the_token(desk: LiveDesk) -> None:
    await desk.agent("Bea")
    ana = await desk.customer()
    chat = await ana.start_chat()
    await ana.close()
    reloaded = await desk.customer(token=ana.token)
    welcome = reloaded.seen("welcome")[0]
    assert welcome["chat"]["id"] == chat["id"]
    assert welcome["customer"]["id"] == ana.seen("welcome")[0]["customer"]["id"]


async def test_the_survey_is_offered_once_and_answered_once(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    await bea.end(chat["id"])
    await ana.expect("survey")

    ana.drop()
    welcome = await ana.connect()
    assert welcome["chat"]["survey"] == "pending"
    await ana.expect("survey")  # still unanswered: asked again after the reconnect

    await ana.send({"type": "rate", "rating": 4})
    await ana.expect("rated")
    await ana.send({"type": "rate", "rating": 1})
    error = await ana.expect("error")
    assert error["code"] == "survey_already_answered"

    ana.drop()
    welcome = await ana.connect()
    assert welcome["chat"]["survey"] == "answered"
    await ana.expect_nothing("survey")


async def test_the_customer_can_have_the_transcript_emailed_once_the_chat_ends(
    desk: LiveDesk,
) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await ana.start_chat()
    await ana.send({"type": "email_transcript", "email": "ana@example.com"})
    assert (await ana.expect("error"))["code"] == "transcript_unavailable"  # not ended yet
    await bea.next_offer(chat["id"])
    await bea.accept(chat["id"])
    await bea.end(chat["id"])
    await ana.expect("ended")
    await ana.send({"type": "email_transcript", "email": "ana@example.com"})
    emailed = await ana.expect("transcript_emailed")
    assert emailed == {
        "type": "transcript_emailed",
        "chat_id": chat["id"],
        "email": "ana@example.com",
    }


async def test_a_backlog_longer_than_the_send_queue_is_replayed_whole(
    backend: Backend, bus_prefix: str
) -> None:
    """A replay flows at the client's pace: 60 missed lines reach a client whose send
    queue holds 20, in order, without closing it as a slow consumer (4408)."""
    async with start_desk(
        backend.database_url,
        backend.redis_url,
        bus_prefix,
        send_queue_limit=20,
        rate_messages_per_second=1000.0,
        rate_burst=1000,
        rate_chat_messages_per_minute=1000,
    ) as desk:
        bea = await desk.agent("Bea")
        ana = await desk.customer()
        chat = await bea.take(ana)
        ana.drop()
        for n in range(60):
            await bea.say(chat["id"], f"missed {n}")

        await ana.connect()
        replayed = [await ana.message(f"missed {n}") for n in range(60)]
        seqs = [m["seq"] for m in replayed]
        assert seqs == sorted(seqs) and len(set(seqs)) == 60
        await ana.say("all caught up")  # the socket is still open and working
        await bea.expect("message", lambda f: f["body"] == "all caught up")


async def test_a_console_gets_the_missed_lines_of_every_chat_it_holds_in_order(
    desk: LiveDesk,
) -> None:
    """A console's hello replays all its chats from one read: for each chat, in id order,
    the lines after the seq it gave (all of them for a chat it didn't name), none twice."""
    bea = await desk.agent("Bea", capacity=3)
    customers = [await desk.customer() for _ in range(3)]
    chat_ids = []
    for n, customer in enumerate(customers):
        chat = await bea.take(customer, message=f"first from {n}")
        chat_ids.append(chat["id"])
    seen = {}
    for n, customer in enumerate(customers[:2]):
        seen[chat_ids[n]] = (await customer.say(f"seen {n}"))["seq"]
        await bea.expect("message", lambda f, n=n: f["body"] == f"seen {n}")
    bea.drop()
    for n, customer in enumerate(customers):
        await customer.say(f"missed {n}")
    bea.frames.clear()

    welcome = await bea.connect(seen=seen)
    assert [c["id"] for c in welcome["chats"]] == sorted(chat_ids)
    assert [c["first_message"] for c in welcome["chats"]] == [f"first from {n}" for n in range(3)]
    assert [c["agent"]["name"] for c in welcome["chats"]] == ["Bea"] * 3
    await bea.expect("message", lambda f: f["body"] == "missed 2")
    replayed = [(f["chat_id"], f["body"]) for f in bea.seen("message")]
    assert replayed == [
        (chat_ids[0], "missed 0"),
        (chat_ids[1], "missed 1"),
        (chat_ids[2], "first from 2"),
        (chat_ids[2], "Bea joined the chat"),
        (chat_ids[2], "missed 2"),
    ]


async def test_a_replay_of_several_chats_keeps_the_limit_per_chat(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", capacity=2)
    chat_ids = []
    for n in range(2):
        customer = await desk.customer()
        chat = await bea.take(customer, message=f"first from {n}")
        await customer.say(f"then {n}")
        chat_ids.append(chat["id"])
    async with desk.runtime.sessions() as session:
        rows = await messages_after_many(session, {chat_ids[1]: 1, chat_ids[0]: 0}, limit=2)
    assert [(row.chat_id, row.seq) for row in rows] == [
        (chat_ids[0], 1),
        (chat_ids[0], 2),
        (chat_ids[1], 2),
        (chat_ids[1], 3),
    ]
