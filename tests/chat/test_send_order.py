"""A message sent after the database comes back is never stored before one it refused.

The writer refuses a failed group commit's messages with `database_unavailable`, but a
client may already have sent later ones; they must not be stored ahead of the refused
one. The outage here is the commit itself failing (the PostgreSQL fault scenario,
`tests/faults/test_scenarios.py`, does it with a real server stopped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from chat.models import ChatMessage
from chat.transcripts import TranscriptWriter
from tests.support import LiveDesk


def _outage(
    monkeypatch: pytest.MonkeyPatch,
    writer: TranscriptWriter,
    during: Callable[[], Awaitable[None]],
) -> list[int]:
    """The next group commit fails; `during` runs while it is failing (a frame arriving)."""
    real = writer._commit
    failed: list[int] = []

    async def commit(batch: list[Any]) -> dict[int, Any]:
        if not failed:
            failed.append(len(batch))
            await during()
            raise OperationalError("INSERT INTO chat_messages …", {}, OSError("connection lost"))
        return await real(batch)

    monkeypatch.setattr(writer, "_commit", commit)
    return failed


async def _bodies(desk: LiveDesk, chat_id: int) -> list[str]:
    async with desk.runtime.sessions() as session:
        rows = await session.scalars(
            select(ChatMessage.body)
            .where(ChatMessage.chat_id == chat_id, ChatMessage.sender != "system")
            .order_by(ChatMessage.seq)
        )
        return list(rows)


async def test_a_message_sent_during_a_failing_commit_waits_for_the_refused_one(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana, message="Hello")
    writer = desk.runtime.writer

    async def second_arrives() -> None:
        # "second" reaches the server while the commit holding "first" is failing: it
        # queues behind it for the next commit, which finds the database back.
        await ana.send({"type": "message", "client_id": "c-2", "body": "second"})
        async with asyncio.timeout(10):
            while not writer._queue:
                await asyncio.sleep(0.005)

    failed = _outage(monkeypatch, writer, second_arrives)
    await ana.send({"type": "message", "client_id": "c-1", "body": "first"})
    for ref in ("c-1", "c-2"):
        error = await ana.expect("error", lambda f, ref=ref: f["ref"] == ref)
        assert error["code"] == "database_unavailable"
    assert failed == [1]
    # Sent after the refusals, with the database back: refused too, never stored first.
    await ana.send({"type": "message", "client_id": "c-3", "body": "third"})
    error = await ana.expect("error", lambda f: f["ref"] == "c-3")
    assert error["code"] == "database_unavailable"
    confirmed = [f for f in ana.frames if f["type"] in ("ack", "message")]
    assert [f for f in confirmed if f.get("client_id") in {"c-1", "c-2", "c-3"}] == []
    # Another connection is not held back by Ana's refused message.
    await bea.say(chat["id"], "Bea is still here")
    assert await _bodies(desk, chat["id"]) == ["Hello", "Bea is still here"]

    # The widget resends everything unconfirmed, in order: all stored, in that order, once.
    sent = [("c-1", "first"), ("c-2", "second"), ("c-3", "third")]
    acks = [await ana.say(body, client_id=client_id) for client_id, body in sent]
    assert [a["seq"] for a in acks] == sorted(a["seq"] for a in acks)
    assert await _bodies(desk, chat["id"]) == [
        "Hello",
        "Bea is still here",
        "first",
        "second",
        "third",
    ]
