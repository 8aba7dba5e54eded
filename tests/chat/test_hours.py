"""Business hours on a live desk: closed desks take messages, the widget learns it live."""

from __future__ import annotations

import datetime as dt

from tests.support import LiveDesk
from ticketing.models import Ticket

SUPPORT, BILLING = 1, 3
SATURDAY = dt.datetime(2026, 11, 28, 11, 0, tzinfo=dt.UTC)


async def test_out_of_hours_the_widget_offers_the_message_form_and_it_becomes_a_ticket(
    desk: LiveDesk,
) -> None:
    await desk.agent("Bill", services=[BILLING])
    desk.clock.set(SATURDAY)
    await desk.runtime.hub.refresh_desk()
    ana = await desk.customer()
    billing = next(s for s in ana.seen("welcome")[0]["services"] if s["id"] == BILLING)
    assert billing["open"] is False and billing["available"] is False
    assert billing["next_open"] == "2026-11-30T09:00:00Z"  # Monday morning

    await ana.send({"type": "start_chat", "service_id": BILLING, "name": "Ana", "message": "Hi"})
    error = await ana.expect("error")
    assert error["code"] == "desk_unavailable" and error["next_open"] == billing["next_open"]

    await ana.send(
        {
            "type": "leave_message",
            "service_id": BILLING,
            "name": "Ana",
            "email": "ana@example.com",
            "subject": "Refund",
            "message": "Please refund order 7",
        }
    )
    created = await ana.expect("ticket_created")
    async with desk.runtime.sessions() as session:
        ticket = await session.get(Ticket, created["ticket_id"])
    assert ticket is not None
    assert (ticket.status.value, ticket.origin.value, ticket.subject) == ("new", "chat", "Refund")


async def test_the_widget_learns_live_when_the_first_agent_comes_and_the_last_goes(
    desk: LiveDesk,
) -> None:
    ana = await desk.customer()
    support = next(s for s in ana.seen("welcome")[0]["services"] if s["id"] == SUPPORT)
    assert support["open"] is True and support["available"] is False

    def support_available(value: bool):  # noqa: ANN202
        return lambda f: any(s["id"] == SUPPORT and s["available"] is value for s in f["services"])

    bea = await desk.agent("Bea", services=[SUPPORT])
    await ana.expect("desk_status", support_available(True))
    ana.forget()
    await bea.send({"type": "presence", "status": "away"})
    await ana.expect("desk_status", support_available(False))
    ana.forget()
    await bea.go_online()
    await ana.expect("desk_status", support_available(True))
    ana.forget()
    await bea.close()
    await ana.expect("desk_status", support_available(False))


async def test_the_widget_learns_when_the_desk_opens(desk: LiveDesk) -> None:
    await desk.agent("Bill", services=[BILLING])
    desk.clock.set(SATURDAY)
    await desk.runtime.hub.refresh_desk()
    ana = await desk.customer()
    desk.clock.set(dt.datetime(2026, 11, 30, 9, 0, 1, tzinfo=dt.UTC))
    await desk.runtime.dispatcher.heartbeat()
    # A periodic refresh may land between the clock's jump and the heartbeat's commit: it
    # rightly says "open, nobody available" (Bill last seen two days ago). Then the
    # heartbeat's own refresh must say open and available, with no next opening.
    opened = await ana.expect(
        "desk_status",
        lambda f: any(s["id"] == BILLING and s["open"] and s["available"] for s in f["services"]),
    )
    billing = next(s for s in opened["services"] if s["id"] == BILLING)
    assert billing["next_open"] is None
