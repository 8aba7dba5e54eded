"""Arrivals at the same moment share one transaction (chat/arrivals.py).

Each still gets its own answer: an arrival that cannot start gets its error, and a
database error in the group fails only the arrival that caused it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import exc, func, select, text

import chat.arrivals
from chat.errors import (
    ChatAlreadyOpen,
    ChatNotFound,
    DatabaseUnavailable,
    DeskUnavailable,
    FieldRequired,
    ServiceNotFound,
)
from chat.lifecycle import Outbox
from chat.models import Chat, ChatMessage
from chat.states import OPEN_STATES
from tests.support import LiveDesk, listening, statements_sent
from ticketing import events
from ticketing.business_hours import weekdays_schedule
from ticketing.db import transaction
from ticketing.models import Customer, Service
from ticketing.outbox import WebhookDelivery, WebhookEndpoint

SUPPORT, UNSTAFFED, BILLING, CLOSED = 1, 2, 3, 4


async def _customers(desk: LiveDesk, count: int, name: str = "") -> list[int]:
    """Customers as the widget's hello leaves them: known, not yet named."""
    async with transaction(desk.runtime.sessions) as session:
        rows = [Customer(name=name) for _ in range(count)]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


def _chat_inserts(desk: LiveDesk) -> AbstractContextManager[list[str]]:
    """Every INSERT INTO chats the server sends: one per group transaction."""
    return statements_sent(desk, lambda sql: sql.lstrip().startswith("INSERT INTO chats "))


def _record_publishing(desk: LiveDesk, monkeypatch: pytest.MonkeyPatch) -> list[Outbox]:
    """What the service publishes after its commits; routing is not woken (so the new
    chats stay as they started), only counted through `Outbox.route`."""
    service = desk.runtime.service
    published: list[Outbox] = []
    publish = service.publish

    def recording(outbox: Outbox) -> None:
        published.append(outbox)
        publish(outbox)

    monkeypatch.setattr(service, "route_requested", None)
    monkeypatch.setattr(service, "publish", recording)
    return published


@contextmanager
def _started_events() -> Iterator[list[events.DomainEvent]]:
    seen: list[events.DomainEvent] = []

    async def record(session: Any, event: events.DomainEvent) -> None:
        if event.type == events.CHAT_STARTED:
            seen.append(event)

    with listening(record):
        yield seen


async def _webhook_for_starts(desk: LiveDesk) -> None:
    async with transaction(desk.runtime.sessions) as session:
        session.add(
            WebhookEndpoint(url="https://hooks.test/in", secret="s", event_types=["chat.started"])
        )


async def test_arrivals_at_the_same_moment_are_one_group_and_each_gets_its_chat(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.agent("Bea", capacity=10)
    await _webhook_for_starts(desk)
    ids = await _customers(desk, 6)
    service = desk.runtime.service
    published = _record_publishing(desk, monkeypatch)
    with _chat_inserts(desk) as inserts, _started_events() as started:
        snaps = await asyncio.gather(
            *(
                service.start_chat(customer_id, SUPPORT, f"C{i}", f"c{i}@x.test", "", f"hi {i}")
                for i, customer_id in enumerate(ids)
            )
        )
    assert len(inserts) == 1  # one transaction started all six
    assert len(published) == 1 and published[0].route  # and asked for routing once
    assert [e.chat_id for e in started] == [s["id"] for s in snaps]
    frames = {channel: frame for channel, frame in published[0].events}
    async with desk.runtime.sessions() as session:
        for i, (customer_id, snap) in enumerate(zip(ids, snaps, strict=True)):
            assert snap["state"] == "waiting" and snap["agent"] is None
            assert snap["customer"] == {"id": customer_id, "name": f"C{i}", "email": f"c{i}@x.test"}
            assert (snap["first_message"], snap["last_seq"]) == (f"hi {i}", 1)
            row = await session.get(Chat, snap["id"])
            assert row is not None and row.state in OPEN_STATES and row.customer_id == customer_id
            # Built without a read, the snapshot is the one a read gives (bar routing's
            # progress since, were it woken).
            assert {**await service.snapshot(session, row), "state": "waiting"} == snap
            lines = (
                await session.execute(
                    select(ChatMessage.seq, ChatMessage.sender, ChatMessage.body).where(
                        ChatMessage.chat_id == snap["id"]
                    )
                )
            ).all()
            assert [tuple(line) for line in lines] == [(1, "customer", f"hi {i}")]
            frame = frames[f"chat:{snap['id']}"]
            assert (frame["type"], frame["seq"], frame["body"]) == ("message", 1, f"hi {i}")
            customer = await session.get(Customer, customer_id)
            assert customer is not None and customer.name == f"C{i}"
        bodies = list(
            await session.scalars(
                select(WebhookDelivery.body).where(WebhookDelivery.event_type == "chat.started")
            )
        )
    told = {json.loads(b)["data"]["chat"]["id"]: json.loads(b)["data"] for b in bodies}
    assert sorted(told) == sorted(s["id"] for s in snaps)  # committed with their chats
    assert {d["customer"]["name"] for d in told.values()} == {f"C{i}" for i in range(6)}


async def test_a_bad_arrival_gets_its_own_error_and_the_others_of_its_group_start(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.agent("Bea", services=[SUPPORT, BILLING, CLOSED], capacity=10)
    async with transaction(desk.runtime.sessions) as session:
        support = await session.get(Service, SUPPORT)
        billing = await session.get(Service, BILLING)
        closed = await session.get(Service, CLOSED)
        assert support is not None and billing is not None and closed is not None
        support.prechat_fields = {"name": "optional"}
        billing.prechat_fields = {"email": "required"}
        closed.schedule = weekdays_schedule("UTC", ["13:00-18:00"]).to_dict()
    good, busy, unknown_service, unstaffed, closed_id, no_email = await _customers(
        desk, 6, name="Known"
    )
    service = desk.runtime.service
    already = await service.start_chat(busy, SUPPORT, "Busy", None, "", "first")
    _record_publishing(desk, monkeypatch)
    with _chat_inserts(desk) as inserts:
        results = await asyncio.gather(
            service.start_chat(good, SUPPORT, None, None, None, "hello"),
            service.start_chat(busy, SUPPORT, "Busy", None, "", "again"),
            service.start_chat(unknown_service, 999, "U", None, "", "hello"),
            service.start_chat(unstaffed, UNSTAFFED, "S", None, "", "hello"),
            service.start_chat(closed_id, CLOSED, "C", None, "", "hello"),
            service.start_chat(no_email, BILLING, "E", None, "Refund", "hello"),
            service.start_chat(987654, SUPPORT, "Nobody", None, "", "hello"),
            service.start_chat(no_email, BILLING, "E", "e@x.test", "Refund", "hello"),
            return_exceptions=True,
        )
    assert len(inserts) == 1
    started, again, no_service, nobody_there, shut, missing, stranger, with_email = results
    assert isinstance(started, dict) and started["customer"]["name"] == "Known"  # kept
    assert isinstance(again, ChatAlreadyOpen)
    assert isinstance(no_service, ServiceNotFound)
    assert isinstance(nobody_there, DeskUnavailable)
    assert nobody_there.details == {"next_open": None}  # open, but nobody online
    assert isinstance(shut, DeskUnavailable)
    assert shut.details == {"next_open": "2026-11-25T13:00:00Z"}
    assert isinstance(missing, FieldRequired) and missing.details == {"field": "email"}
    assert isinstance(stranger, ChatNotFound)
    assert isinstance(with_email, dict) and with_email["subject"] == "Refund"
    assert with_email["customer"]["email"] == "e@x.test"
    async with desk.runtime.sessions() as session:
        chats = dict(
            (
                await session.execute(
                    select(Chat.customer_id, func.count()).group_by(Chat.customer_id)
                )
            ).all()
        )
    assert chats == {good: 1, busy: 1, no_email: 1}
    assert already["id"] != started["id"]


async def test_the_same_customer_twice_in_a_group_gets_one_chat(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.agent("Bea")
    [ana] = await _customers(desk, 1)
    service = desk.runtime.service
    _record_publishing(desk, monkeypatch)
    with _chat_inserts(desk) as inserts:
        first, second = await asyncio.gather(
            service.start_chat(ana, SUPPORT, "Ana", None, "", "one"),
            service.start_chat(ana, SUPPORT, "Anna", "anna@x.test", "", "two"),
            return_exceptions=True,
        )
    assert len(inserts) == 1
    assert isinstance(first, dict) and first["first_message"] == "one"
    assert isinstance(second, ChatAlreadyOpen)  # the first arrival stands
    async with desk.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).where(Chat.customer_id == ana)) == 1
        customer = await session.get(Customer, ana)
        assert customer is not None and (customer.name, customer.email) == ("Ana", None)


async def test_a_database_error_in_a_group_fails_only_the_arrival_that_caused_it(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.agent("Bea", capacity=10)
    ids = await _customers(desk, 3)
    broken = ids[1]

    async def failing_listener(session: Any, event: events.DomainEvent) -> None:
        # A listener whose outbox write fails for this one chat: the whole transaction
        # it runs in fails with it.
        if event.type == events.CHAT_STARTED and event.data["customer_id"] == broken:
            await session.execute(text("INSERT INTO no_such_table VALUES (1)"))

    service = desk.runtime.service
    _record_publishing(desk, monkeypatch)
    with listening(failing_listener), _chat_inserts(desk) as inserts:
        results = await asyncio.gather(
            *(
                service.start_chat(customer_id, SUPPORT, f"C{i}", None, "", f"hi {i}")
                for i, customer_id in enumerate(ids)
            ),
            return_exceptions=True,
        )
    assert len(inserts) == 4  # together first, then each alone
    assert isinstance(results[0], dict) and isinstance(results[2], dict)
    assert isinstance(results[1], exc.DBAPIError)
    assert results[0]["first_message"] == "hi 0" and results[2]["first_message"] == "hi 2"
    async with desk.runtime.sessions() as session:
        chats = dict((await session.execute(select(Chat.customer_id, Chat.id))).all())
        assert set(chats) == {ids[0], ids[2]}  # the broken one rolled back whole
        assert await session.scalar(select(func.count()).select_from(ChatMessage)) == 2
        customer = await session.get(Customer, broken)
        assert customer is not None and customer.name == ""


async def test_a_caller_going_away_leaves_its_group_alone_and_a_stopped_drain_answers(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.agent("Bea", capacity=10)
    first, second, third = await _customers(desk, 3)
    service = desk.runtime.service
    _record_publishing(desk, monkeypatch)
    entered, release = asyncio.Event(), asyncio.Event()
    statuses = chat.arrivals.desk.service_statuses

    async def held(*args: Any) -> Any:
        entered.set()
        await release.wait()
        return await statuses(*args)

    monkeypatch.setattr(chat.arrivals, "desk", SimpleNamespace(service_statuses=held))
    gone = asyncio.create_task(service.start_chat(first, SUPPORT, "A", None, "", "a"))
    staying = asyncio.create_task(service.start_chat(second, SUPPORT, "B", None, "", "b"))
    await entered.wait()
    gone.cancel()  # the socket closed mid-arrival
    release.set()
    snap = await staying
    assert snap["customer"]["name"] == "B"
    with pytest.raises(asyncio.CancelledError):
        await gone
    async with desk.runtime.sessions() as session:
        started = set(await session.scalars(select(Chat.customer_id)))
    assert started == {first, second}  # its chat started regardless

    entered.clear()
    release.clear()
    waiting = asyncio.create_task(service.start_chat(third, SUPPORT, "C", None, "", "c"))
    await entered.wait()
    drain = service.arrivals._task
    assert drain is not None
    drain.cancel()  # the process stopping
    with pytest.raises(DatabaseUnavailable):
        await waiting
    assert service.arrivals._task is None
