"""Delivered and read receipts: relayed to the other side, stored monotonically, cheap.

Each test runs on SQLite + memory bus and on PostgreSQL + Redis (the `desk` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from chat.models import Chat
from tests.chat.test_chat_attachments import PNG, active_chat
from tests.conftest import Backend
from tests.support import AgentConsole, Customer, LiveDesk, start_two_desks, statements_sent


async def stored_receipts(desk: LiveDesk, chat_id: int) -> dict[str, int]:
    async with desk.runtime.sessions() as session:
        chat = await session.get(Chat, chat_id)
    assert chat is not None
    return {
        "customer_delivered": chat.customer_delivered_seq,
        "customer_read": chat.customer_read_seq,
        "agent_delivered": chat.agent_delivered_seq,
        "agent_read": chat.agent_read_seq,
    }


@contextmanager
def receipt_writes(desk: LiveDesk, reads: list[str] | None = None) -> Iterator[list[str]]:
    """Every statement that writes a receipt column, as the database sees it (and, into
    `reads`, every one that reads them)."""

    def writes(sql: str) -> bool:
        return sql.lower().startswith("update") and "read_seq" in sql.lower()

    def reads_them(sql: str) -> bool:
        return sql.lower().startswith("select") and "read_seq" in sql.lower()

    with statements_sent(desk, reads_them) as read, statements_sent(desk, writes) as seen:
        try:
            yield seen
        finally:
            if reads is not None:
                reads.extend(read)


async def handled(peer: Customer | AgentConsole) -> None:
    """Frames are handled in order: after the pong, everything sent before it was."""
    await peer.send({"type": "ping"})
    await peer.expect("pong")


def by(side: str, read: int | None = None) -> Any:
    return lambda f: f["by"] == side and (read is None or f["read_seq"] >= read)


async def test_the_agent_sees_delivered_then_read(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    ack = await bea.say(chat_id, "Let me check your invoice.")
    seq = ack["seq"]
    await ana.send({"type": "delivered", "chat_id": chat_id, "seq": seq})
    delivered = await bea.expect("receipt", by("customer"))
    assert delivered == {
        "type": "receipt",
        "chat_id": chat_id,
        "by": "customer",
        "delivered_seq": seq,
        "read_seq": 0,
    }
    await ana.send({"type": "read", "chat_id": chat_id, "seq": seq})
    read = await bea.expect("receipt", by("customer", read=seq))
    assert (read["delivered_seq"], read["read_seq"]) == (seq, seq)
    assert (await stored_receipts(desk, chat_id))["customer_read"] == seq


async def test_the_customer_sees_the_agents_receipts(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    ack = await ana.say("Are you there?")
    # Reading implies having received.
    await bea.send({"type": "read", "chat_id": chat_id, "seq": ack["seq"]})
    frame = await ana.expect("receipt", by("agent", read=ack["seq"]))
    assert frame["delivered_seq"] == ack["seq"]
    stored = await stored_receipts(desk, chat_id)
    assert stored["agent_delivered"] == stored["agent_read"] == ack["seq"]
    assert stored["customer_read"] == 0


async def test_receipts_are_in_the_snapshots_after_a_reconnect(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    mine = (await ana.say("Hello"))["seq"]
    theirs = (await bea.say(chat_id, "Hi Ana"))["seq"]
    await ana.send({"type": "read", "chat_id": chat_id, "seq": theirs})
    await bea.send({"type": "delivered", "chat_id": chat_id, "seq": mine})
    await bea.expect("receipt", by("customer", read=theirs))
    await ana.expect("receipt", by("agent"))
    await ana.close()
    await bea.close()

    again = Customer(desk, ana.token)
    welcome = await again.connect()
    assert welcome["chat"]["receipts"] == {
        "customer": {"delivered_seq": theirs, "read_seq": theirs},
        "agent": {"delivered_seq": mine, "read_seq": 0},
    }
    console = AgentConsole(desk, bea.agent, bea.cookies)
    [chat] = (await console.connect())["chats"]
    assert chat["receipts"] == welcome["chat"]["receipts"]


async def test_receipts_never_go_back(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    for n in range(3):
        await bea.say(chat_id, f"line {n}")
    last = (await bea.say(chat_id, "last"))["seq"]
    await ana.send({"type": "read", "chat_id": chat_id, "seq": last})
    await bea.expect("receipt", by("customer", read=last))
    await ana.send({"type": "read", "chat_id": chat_id, "seq": last - 2})
    await ana.send({"type": "delivered", "chat_id": chat_id, "seq": 1})
    await handled(ana)
    await desk.runtime.receipts.flush()
    await bea.expect_nothing("receipt", 0.5)
    stored = await stored_receipts(desk, chat_id)
    assert stored["customer_read"] == stored["customer_delivered"] == last


async def test_a_stream_of_receipts_costs_a_few_writes(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    seqs = [(await bea.say(chat_id, f"part {n}"))["seq"] for n in range(10)]
    reads: list[str] = []
    with receipt_writes(desk, reads) as writes:
        for seq in seqs:  # what a client that didn't coalesce would send: 20 frames
            await ana.send({"type": "delivered", "chat_id": chat_id, "seq": seq})
            await ana.send({"type": "read", "chat_id": chat_id, "seq": seq})
        await bea.expect("receipt", by("customer", read=seqs[-1]))
    # One write per flush, not one per frame (a flush may fall mid-stream: at most a few).
    assert 1 <= len(writes) <= 3, writes
    # The chat's last seq is learnt once; lines stored in this process keep it current.
    selects = [r for r in reads if r.lower().startswith("select chats.last_seq, chats.customer")]
    assert len(selects) == 1, selects
    assert (await stored_receipts(desk, chat_id))["customer_read"] == seqs[-1]


async def test_one_flush_writes_every_chat_in_one_statement(desk: LiveDesk) -> None:
    chats = [await active_chat(desk) for _ in range(3)]
    for _, bea, chat_id in chats:
        await bea.say(chat_id, "Hello")
    with receipt_writes(desk) as writes:
        for ana, _, chat_id in chats:
            await ana.send({"type": "read", "chat_id": chat_id, "seq": 2})
            await handled(ana)
        await desk.runtime.receipts.flush()
    assert len(writes) == 1
    for _, bea, chat_id in chats:
        await bea.expect("receipt", lambda f, c=chat_id: f["chat_id"] == c and f["read_seq"] == 2)


async def test_bad_receipts_get_typed_errors_and_change_nothing(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    last = (await bea.say(chat_id, "Hi"))["seq"]
    other_ana, other_bea, other_chat = await active_chat(desk)
    cases: list[tuple[Customer | AgentConsole, dict[str, Any], str]] = [
        (ana, {"type": "read", "chat_id": chat_id, "seq": last + 1}, "bad_seq"),
        (ana, {"type": "delivered", "chat_id": chat_id, "seq": 10**9}, "bad_seq"),
        (ana, {"type": "read", "chat_id": other_chat, "seq": 1}, "chat_not_found"),
        (bea, {"type": "read", "chat_id": other_chat, "seq": 1}, "chat_not_found"),
        (bea, {"type": "delivered", "chat_id": 999_999, "seq": 1}, "chat_not_found"),
        (ana, {"type": "read", "chat_id": chat_id, "seq": -1}, "bad_frame"),
        (ana, {"type": "read", "chat_id": chat_id, "seq": "2"}, "bad_frame"),
        (ana, {"type": "read", "chat_id": chat_id, "seq": True}, "bad_frame"),
        (bea, {"type": "delivered", "chat_id": chat_id}, "bad_frame"),
        (bea, {"type": "read", "seq": 1}, "bad_frame"),
    ]
    for peer, frame, code in cases:
        await peer.send(frame)
        error = await peer.expect("error")
        assert error["code"] == code, (frame, error)
        assert error["message"]
        if code != "bad_frame":  # a frame that doesn't parse has no type to point at
            assert error["ref"] == frame["type"]
    newcomer = await desk.customer()
    await newcomer.send({"type": "read", "chat_id": chat_id, "seq": 1})
    assert (await newcomer.expect("error"))["code"] == "no_open_chat"
    await desk.runtime.receipts.flush()
    for cid in (chat_id, other_chat):
        assert set((await stored_receipts(desk, cid)).values()) == {0}
    await other_bea.expect_nothing("receipt", 0.3)
    await other_ana.expect_nothing("receipt", 0.1)


async def test_receipts_of_an_ended_chat_still_count(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    await bea.end(chat_id)
    ended = await ana.expect("ended")
    assert ended["chat_id"] == chat_id
    async with desk.runtime.sessions() as session:
        last = await session.scalar(select(Chat.last_seq).where(Chat.id == chat_id))
    await ana.send({"type": "read", "chat_id": chat_id, "seq": last})
    await handled(ana)
    await desk.runtime.receipts.flush()
    assert (await stored_receipts(desk, chat_id))["customer_read"] == last


async def test_files_and_receipts_cross_processes(shared_backend: Backend, bus_prefix: str) -> None:
    """The customer on one instance (embedded in a shop's page), the agent on another."""
    site = "https://shop.example"
    async with start_two_desks(
        shared_backend.database_url, shared_backend.redis_url, bus_prefix, allowed_origins=(site,)
    ) as (one, two):
        bea = await two.agent("Bea")
        ana = Customer(one, site=site)
        await ana.connect()
        chat = await bea.take(ana)
        await ana.expect("assigned")

        sent = await ana.send_file(PNG, "photo.png")  # token issued for the shop's site
        assert sent.status_code == 201, sent.text
        frame = await bea.expect("message", lambda f: f["attachment"] is not None)
        async with bea.http() as http:
            got = await http.get(frame["attachment"]["url"])  # served by the other process
        assert got.status_code == 200 and got.content == PNG

        await bea.send({"type": "read", "chat_id": chat["id"], "seq": frame["seq"]})
        receipt = await ana.expect("receipt", by("agent", read=frame["seq"]))
        assert receipt["delivered_seq"] == frame["seq"]
        async with one.runtime.sessions() as session:
            stored = await session.get(Chat, chat["id"])
        assert stored is not None and stored.agent_read_seq == frame["seq"]
