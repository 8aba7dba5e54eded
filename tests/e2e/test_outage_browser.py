"""The database goes away mid-chat: both pages keep what was typed and send it, in order.

While transcript commits fail the server answers each message `database_unavailable`
(not stored, no ack). The widget and the console keep those messages as "Sending…",
resend everything unconfirmed in order a few seconds later, and once the database is
back every message is stored once and shown on both sides in the order it was typed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.exc import OperationalError

from tests.e2e.chat_pages import STORED, assert_once_in_order, chat_between, stored_count
from tests.e2e.pages import WAIT, Problems
from tests.support import LiveDesk

pytestmark = pytest.mark.browser


class Outage:
    """Makes the transcript writer's commits fail while `down` (the database is gone)."""

    def __init__(self, desk: LiveDesk, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        self.refused = 0
        writer = desk.runtime.writer
        real = writer._commit

        async def commit(batch: list[Any]) -> dict[int, Any]:
            if self.down:
                self.refused += len(batch)
                raise OperationalError("INSERT …", {}, OSError("connection refused"))
            return await real(batch)

        monkeypatch.setattr(writer, "_commit", commit)

    async def refusals(self, count: int) -> None:
        """Wait until the server has refused at least `count` messages."""
        async with asyncio.timeout(WAIT / 1000):
            while self.refused < count:
                await asyncio.sleep(0.05)


async def test_messages_typed_during_an_outage_arrive_once_and_in_order(
    desk: LiveDesk, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = Problems()
    chat = await chat_between(
        desk, browser, problems, customer="Ana", message="Is my order on its way?"
    )
    console, visitor = chat.console, chat.visitor
    outage = Outage(desk, monkeypatch)

    outage.down = True
    first = await visitor.say("It was order 1042.")
    second = await visitor.say("Paid by card.")
    mine = console.log.locator(".cd-msg--mine")
    await console.pane.get_by_role("textbox", name="Reply").fill("Looking it up now.")
    await console.pane.get_by_role("button", name="Send", exact=True).click()
    await outage.refusals(3)
    # Refused, not lost: each page still shows them as being sent, nothing is stored.
    for pending in (first, second, mine.last):
        await expect(pending.locator(".cd-msg__status")).to_have_text("Sending…")
    for body in ("It was order 1042.", "Paid by card.", "Looking it up now."):
        assert await stored_count(desk, body) == 0

    outage.down = False
    for stored in (first, second, mine.last):
        await expect(stored.locator(".cd-msg__status")).to_have_text(STORED, timeout=WAIT)
    typed = ["Is my order on its way?", "It was order 1042.", "Paid by card."]
    await assert_once_in_order(visitor.log, typed)
    await assert_once_in_order(console.log, typed)
    await assert_once_in_order(visitor.log, ["Looking it up now."])
    for body in ("It was order 1042.", "Paid by card.", "Looking it up now."):
        assert await stored_count(desk, body) == 1
    problems.assert_none()
