"""Domain events reach listeners inside the change's own transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support import LiveDesk, listening
from ticketing import events


@pytest.fixture
async def heard() -> AsyncIterator[list[events.DomainEvent]]:
    got: list[events.DomainEvent] = []

    async def listener(session: AsyncSession, event: events.DomainEvent) -> None:
        assert session.in_transaction()  # written together with the change, or not at all
        got.append(event)

    with listening(listener):
        yield got


async def test_a_chat_emits_started_ended_created_and_survey_events(
    desk: LiveDesk, heard: list[events.DomainEvent]
) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    await bea.end(chat["id"])
    await ana.expect("survey")
    await ana.send({"type": "rate", "rating": 5})
    await ana.expect("rated")
    kinds = [e.type for e in heard]
    assert kinds == [
        events.CHAT_STARTED,
        events.TICKET_CREATED,
        events.CHAT_ENDED,
        events.SURVEY_ANSWERED,
    ]
    created = heard[1]
    assert created.chat_id == chat["id"] and created.data["origin"] == "chat"
    assert heard[2].data == {"ended_by": "agent", "status": "resolved", "missed": False}
    assert heard[3].data["rating"] == 5
