"""Endings waiting at the same moment share one transaction (chat/endings.py).

Each still gets its own answer: a chat that cannot end gets its error, and a database
error in the group fails only the ending that caused it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import exc, func, select

import chat.endings
from chat.errors import ChatClosed, ChatNotFound
from chat.models import Chat, ChatMessage
from chat.states import ChatState, EndedBy
from tests.support import LiveDesk
from ticketing.conversion import FinishedChat, convert_chat
from ticketing.db import transaction
from ticketing.models import Survey, Ticket, TicketMessage, TicketStatus


async def _active_chats(desk: LiveDesk, count: int) -> tuple[Any, list[int], list[Any]]:
    bea = await desk.agent("Bea", capacity=count)
    customers, chat_ids = [], []
    for i in range(count):
        customer = await desk.customer()
        chat = await bea.take(customer, name=f"C{i}")
        await customer.say(f"hello from C{i}")
        customers.append(customer)
        chat_ids.append(chat["id"])
    return bea, chat_ids, customers


def _record_groups(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    groups: list[list[int]] = []
    convert = chat.endings.convert_chats

    async def recording(session: Any, chats: list[FinishedChat], now: Any) -> Any:
        groups.append([c.chat_id for c in chats])
        return await convert(session, chats, now)

    monkeypatch.setattr(chat.endings, "convert_chats", recording)
    return groups


async def test_endings_at_the_same_moment_are_one_group_and_each_gets_its_answer(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    bea, chat_ids, customers = await _active_chats(desk, 4)
    groups = _record_groups(monkeypatch)
    service = desk.runtime.service
    async with desk.runtime.sessions() as session:
        other_customer_id = await session.scalar(
            select(Chat.customer_id).where(Chat.id == chat_ids[0])
        )
    results = await asyncio.gather(
        *(service.end_chat(chat_id, EndedBy.AGENT, agent=bea.agent) for chat_id in chat_ids[:3]),
        service.end_chat(chat_ids[0], EndedBy.CUSTOMER),  # the other side, at once
        service.end_chat(chat_ids[3], EndedBy.CUSTOMER, customer_id=other_customer_id),
        service.end_chat(987654, EndedBy.AGENT, agent=bea.agent),
        return_exceptions=True,
    )
    assert groups == [chat_ids[:3]]  # one transaction converted all three
    for chat_id, snap in zip(chat_ids[:3], results[:3], strict=True):
        assert isinstance(snap, dict) and snap["id"] == chat_id and snap["state"] == "ended"
        assert snap["ticket_id"] is not None and snap["survey"] == "pending"
    assert isinstance(results[3], ChatClosed)  # the first end stands
    assert isinstance(results[4], ChatNotFound)  # not that customer's chat
    assert isinstance(results[5], ChatNotFound)

    for customer, chat_id in zip(customers[:3], chat_ids[:3], strict=True):
        ended = await customer.expect("ended", lambda f, c=chat_id: f["chat_id"] == c)
        assert ended["ended_by"] == "agent"
        await customer.expect("survey", lambda f, c=chat_id: f["chat_id"] == c)
    async with desk.runtime.sessions() as session:
        for chat_id in chat_ids[:3]:
            ticket = await session.scalar(select(Ticket).where(Ticket.chat_id == chat_id))
            assert ticket is not None and ticket.status is TicketStatus.RESOLVED
            thread = list(
                await session.scalars(
                    select(TicketMessage.body)
                    .where(TicketMessage.ticket_id == ticket.id)
                    .order_by(TicketMessage.id)
                )
            )
            lines = list(
                await session.scalars(
                    select(ChatMessage.body)
                    .where(ChatMessage.chat_id == chat_id)
                    .order_by(ChatMessage.seq)
                )
            )
            assert thread == lines and lines[-1] == "Chat ended by the agent"
            assert await session.scalar(select(Survey.id).where(Survey.ticket_id == ticket.id))
        untouched = await session.get(Chat, chat_ids[3])
        assert untouched is not None and untouched.state is ChatState.ACTIVE


async def test_a_database_error_in_a_group_fails_only_the_ending_that_caused_it(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    bea, chat_ids, _ = await _active_chats(desk, 3)
    broken = chat_ids[1]
    # A ticket already names the open chat (damaged data): converting it breaks the
    # unique `tickets.chat_id`, which fails the whole group's transaction.
    async with desk.runtime.sessions() as session:
        row = await session.get(Chat, broken)
        assert row is not None
        finished = FinishedChat(
            broken, row.service_id, row.customer_id, None, "x", TicketStatus.NEW, False, []
        )
    async with transaction(desk.runtime.sessions) as session:
        await convert_chat(session, finished, desk.clock.now())
    groups = _record_groups(monkeypatch)

    service = desk.runtime.service
    results = await asyncio.gather(
        *(service.end_chat(chat_id, EndedBy.AGENT, agent=bea.agent) for chat_id in chat_ids),
        return_exceptions=True,
    )
    assert groups[0] == chat_ids  # together first, then each alone
    assert sorted(groups[1:]) == [[chat_id] for chat_id in chat_ids]
    assert isinstance(results[0], dict) and isinstance(results[2], dict)
    assert isinstance(results[1], exc.IntegrityError)
    async with desk.runtime.sessions() as session:
        states = dict(
            (await session.execute(select(Chat.id, Chat.state).where(Chat.id.in_(chat_ids)))).all()
        )
        assert states == {
            chat_ids[0]: ChatState.ENDED,
            broken: ChatState.ACTIVE,  # rolled back whole: no closing line, no ticket
            chat_ids[2]: ChatState.ENDED,
        }
        closing = await session.scalar(
            select(func.count()).where(
                ChatMessage.chat_id == broken,
                ChatMessage.sender == "system",
                ChatMessage.body.like("Chat ended%"),
            )
        )
        assert closing == 0
        assert await session.scalar(select(func.count()).where(Ticket.chat_id == broken)) == 1
