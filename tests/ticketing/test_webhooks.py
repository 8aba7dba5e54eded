"""Webhooks to a real local HTTP receiver: signed, retried, never twice, never a note."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.seed import create_agent
from tests.conftest import Backend
from tests.support import LiveDesk, free_port
from tests.ticketing.mailroom import Receiver, mail_settings, receiver
from ticketing import events
from ticketing.conversion import FinishedChat, TranscriptLine, convert_chat
from ticketing.db import create_engine, create_sessionmaker, transaction
from ticketing.deliveries import Deliverer
from ticketing.models import AuthorType, Customer, TicketStatus
from ticketing.outbox import DeliveryStatus, OutboxEmail, WebhookDelivery, WebhookEndpoint
from ticketing.service import Who, locked_ticket, tickets
from ticketing.status import Actor
from ticketing.webhooks import SIGNATURE_HEADER, redelivery, signature, verify_signature

Sessions = async_sessionmaker[AsyncSession]
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
SECRET = "whsec_test-receiver-secret"
BILLING = 3
ROOT = Path(__file__).resolve().parents[2]


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_recent_time() -> None:
    body = b'{"id":"1","type":"ticket.created"}'
    now = time.time()
    header = signature(SECRET, body, int(now))
    assert verify_signature(SECRET, header, body, now)
    assert not verify_signature(SECRET, header, body + b" ", now)
    assert not verify_signature("whsec_other", header, body, now)
    assert not verify_signature(SECRET, header, body, now + 301)  # a replay, later
    assert not verify_signature(SECRET, "v1=abc", body, now)
    assert not verify_signature(SECRET, None, body, now)


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver(SECRET) as running:
        yield running


async def _endpoint(
    sessions: Sessions, url: str, types: list[str], *, customer_facing: bool = False
) -> int:
    async with transaction(sessions) as session:
        endpoint = WebhookEndpoint(
            url=url,
            secret=SECRET,
            event_types=types,
            customer_facing=customer_facing,
            description="",
            active=True,
            created_at=NOW,
        )
        session.add(endpoint)
        await session.flush()
        return endpoint.id


async def _people(sessions: Sessions) -> tuple[Customer, Who]:
    async with transaction(sessions) as session:
        ana = Customer(name="Ana", email="ana@shop.example")
        session.add(ana)
        bea = await create_agent(session, "bea@desk.test", "Bea", "secret-pass")
        await session.flush()
        return ana, Who(Actor.AGENT, bea.id, "Bea")


async def _convert_a_chat(sessions: Sessions, ana: Customer, bea: Who, chat_id: int = 7) -> int:
    lines = [
        TranscriptLine(AuthorType.CUSTOMER, ana.id, "Ana", "My invoice is wrong", NOW),
        TranscriptLine(AuthorType.AGENT, bea.id, "Bea", "Fixed it for you", NOW),
    ]
    chat = FinishedChat(
        chat_id=chat_id,
        service_id=BILLING,
        customer_id=ana.id,
        agent_id=bea.id,
        subject="",
        status=TicketStatus.RESOLVED,
        ask_for_rating=True,
        transcript=lines,
    )
    async with transaction(sessions) as session:
        return (await convert_chat(session, chat, NOW)).id


async def _new_ticket(sessions: Sessions, ana: Customer, subject: str = "Invoice") -> int:
    async with transaction(sessions) as session:
        customer = await session.get(Customer, ana.id)
        assert customer is not None
        ticket = await tickets.create(
            session,
            requester=customer,
            service_id=BILLING,
            subject=subject,
            message="Charged twice",
            who=Who(Actor.CUSTOMER, ana.id, "Ana"),
            now=NOW,
        )
        return ticket.id


async def _deliveries(sessions: Sessions) -> list[WebhookDelivery]:
    async with sessions() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def test_a_converted_chat_reaches_the_external_system_with_its_whole_transcript(
    sessions: Sessions, hooks: Receiver
) -> None:
    await _endpoint(sessions, f"{hooks.base_url}/ok", [events.TICKET_CREATED])
    ana, bea = await _people(sessions)
    ticket_id = await _convert_a_chat(sessions, ana, bea)
    async with Deliverer(sessions, mail_settings()) as deliverer:
        report = await deliverer.send_webhooks(NOW)
    [delivery] = await _deliveries(sessions)
    assert report.webhooks_sent == [delivery.id]
    assert (delivery.status, delivery.response_status, delivery.attempts) == (
        DeliveryStatus.SENT,
        200,
        1,
    )
    [got] = hooks.got
    event = got["body"]
    assert event["type"] == "ticket.created" and event["id"] == delivery.event_id
    assert event["data"]["origin"] == "chat" and event["data"]["chat"] == {"id": 7}
    assert event["data"]["ticket"]["id"] == ticket_id
    assert event["data"]["ticket"]["requester"]["email"] == "ana@shop.example"
    assert [(m["author_name"], m["body"]) for m in event["data"]["messages"]] == [
        ("Ana", "My invoice is wrong"),
        ("Bea", "Fixed it for you"),
    ]
    assert got["headers"]["x-chatdesk-event"] == "ticket.created"
    assert got["headers"]["x-chatdesk-delivery"] == str(delivery.id)
    assert hooks.rejected == 0  # the receiver checked the signature


async def test_a_customer_facing_endpoint_never_hears_of_an_internal_note(
    sessions: Sessions, hooks: Receiver
) -> None:
    types = [events.TICKET_CREATED, events.TICKET_UPDATED]
    internal = await _endpoint(sessions, f"{hooks.base_url}/ok", types)
    public = await _endpoint(sessions, f"{hooks.base_url}/flaky", types, customer_facing=True)
    ana, bea = await _people(sessions)
    ticket_id = await _new_ticket(sessions, ana)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(session, ticket, bea, "Customer is a VIP", NOW, internal=True)
        await tickets.reply(session, ticket, bea, "Refunded.", NOW)
    async with Deliverer(sessions, mail_settings()) as deliverer:
        await deliverer.send_webhooks(NOW)
    to_internal = [e["data"].get("change") for e in hooks.events("/ok")]
    to_public = [e["data"].get("change") for e in hooks.events("/flaky")]
    assert "note" in to_internal and "note" not in to_public
    assert to_public.count("reply") == 1
    seen_by_public = json.dumps(hooks.events("/flaky"))
    assert "Customer is a VIP" not in seen_by_public
    assert "Customer is a VIP" in json.dumps(hooks.events("/ok"))
    public_ticket = hooks.events("/flaky")[0]["data"]["ticket"]
    assert "tags" not in public_ticket and "pickup_due_at" not in public_ticket
    assert "pickup_due_at" in hooks.events("/ok")[0]["data"]["ticket"]
    deliveries = await _deliveries(sessions)
    assert {d.endpoint_id for d in deliveries} == {internal, public}


async def test_a_failing_receiver_is_retried_with_backoff_until_it_recovers(
    sessions: Sessions, hooks: Receiver
) -> None:
    await _endpoint(sessions, f"{hooks.base_url}/flaky", [events.TICKET_CREATED])
    hooks.failures = 2
    ana, _ = await _people(sessions)
    await _new_ticket(sessions, ana)
    async with Deliverer(sessions, mail_settings(), rand=lambda: 1.0) as deliverer:
        first = await deliverer.send_webhooks(NOW)
        [row] = await _deliveries(sessions)
        assert first.webhooks_retrying == [row.id]
        assert (row.attempts, row.response_status) == (1, 503)
        assert row.last_error == "HTTP 503: receiver is restarting"
        assert row.next_attempt_at == NOW + dt.timedelta(seconds=30)
        second = await deliverer.send_webhooks(NOW + dt.timedelta(seconds=30))
        assert second.webhooks_retrying == [row.id]
        [row] = await _deliveries(sessions)
        assert row.next_attempt_at == NOW + dt.timedelta(seconds=90)  # 30 s, then 60 s
        assert (await deliverer.send_webhooks(NOW + dt.timedelta(seconds=89))).webhooks_sent == []
        third = await deliverer.send_webhooks(row.next_attempt_at)
    assert third.webhooks_sent == [row.id]
    [row] = await _deliveries(sessions)
    assert (row.status, row.attempts, row.response_status, row.last_error) == (
        DeliveryStatus.SENT,
        3,
        200,
        None,
    )
    assert len(hooks.events("/flaky")) == 1


class _RecordingTransport(httpx.AsyncBaseTransport):
    """Logs when each request starts and ends, so a test can prove two were in flight at once."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.log: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("start", request.url.path))
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.log.append(("end", request.url.path))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def overlapped(self, a: str, b: str) -> bool:
        """Each of the two requests started before the other one ended."""
        at = {event: n for n, event in enumerate(self.log)}
        return at[("start", a)] < at[("end", b)] and at[("start", b)] < at[("end", a)]


async def test_a_slow_or_dead_endpoint_never_slows_a_ticket_or_the_other_endpoints(
    sessions: Sessions, hooks: Receiver
) -> None:
    await _endpoint(sessions, f"{hooks.base_url}/slow", [events.TICKET_CREATED])
    await _endpoint(sessions, f"{hooks.base_url}/ok", [events.TICKET_CREATED])
    dead_port = free_port()  # nothing listens here
    await _endpoint(sessions, f"http://127.0.0.1:{dead_port}/gone", [events.TICKET_CREATED])
    ana, _ = await _people(sessions)
    await _new_ticket(sessions, ana)
    # The change only wrote rows: no endpoint was contacted while the ticket was saved.
    assert hooks.got == [] and hooks.rejected == 0
    assert [(d.status, d.attempts) for d in await _deliveries(sessions)] == [
        (DeliveryStatus.PENDING, 0)
    ] * 3
    transport = _RecordingTransport()
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3), transport=transport) as http:
        async with Deliverer(sessions, mail_settings(), http=http) as deliverer:
            report = await deliverer.send_webhooks(NOW)
    # The slow and the fast request were open at the same time: the fast one never queued
    # behind the slow one's timeout (proved by order of events, not by a stopwatch).
    assert transport.overlapped("/slow", "/ok"), transport.log
    slow, fast, dead = await _deliveries(sessions)
    assert report.webhooks_sent == [fast.id]
    assert sorted(report.webhooks_retrying) == [slow.id, dead.id]
    assert slow.last_error == "The endpoint did not answer in time."
    assert dead.last_error is not None and "Connect" in dead.last_error
    assert len(hooks.events("/ok")) == 1


async def test_two_workers_deliver_every_event_exactly_once(
    sessions: Sessions, backend: Backend, hooks: Receiver
) -> None:
    await _endpoint(sessions, f"{hooks.base_url}/ok", [events.TICKET_CREATED])
    ana, _ = await _people(sessions)
    for n in range(20):
        await _new_ticket(sessions, ana, f"Question {n}")
    engine = create_engine(backend.database_url)
    try:
        async with (
            Deliverer(sessions, mail_settings(), worker="one") as one,
            Deliverer(create_sessionmaker(engine), mail_settings(), worker="two") as two,
        ):
            reports = await asyncio.gather(
                one.send_webhooks(NOW), two.send_webhooks(NOW), one.send_webhooks(NOW)
            )
    finally:
        await engine.dispose()
    sent = [row for report in reports for row in report.webhooks_sent]
    assert len(sent) == len(set(sent)) == 20
    event_ids = [e["id"] for e in hooks.events("/ok")]
    assert len(event_ids) == len(set(event_ids)) == 20


# ------------------------------------------------------------------ the admin API
def _http(desk: LiveDesk, cookies: httpx.Cookies) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=desk.base_url,
        cookies=cookies,
        headers={"X-CSRF-Token": cookies["chatdesk_csrf"]},
    )


async def test_admins_register_endpoints_read_their_log_and_redeliver(
    desk: LiveDesk, hooks: Receiver
) -> None:
    admin, password = await desk.add_agent("Ada", admin=True)
    bea, bea_password = await desk.add_agent("Bea")
    async with _http(desk, await desk.login(admin, password)) as http:
        bad = await http.post(
            "/api/admin/webhooks", json={"url": "ftp://x.test", "event_types": ["ticket.created"]}
        )
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_setting"
        unknown = await http.post(
            "/api/admin/webhooks", json={"url": f"{hooks.base_url}/ok", "event_types": ["x"]}
        )
        assert unknown.status_code == 422 and "ticket.created" in unknown.json()["message"]
        created = await http.post(
            "/api/admin/webhooks",
            json={
                "url": f"{hooks.base_url}/ok",
                "event_types": ["ticket.created"],
                "description": "Our old ticket system",
            },
        )
        assert created.status_code == 201
        endpoint = created.json()
        assert endpoint["secret"].startswith("whsec_") and endpoint["active"] is True
        hooks.secret = endpoint["secret"]
        listed = (await http.get("/api/admin/webhooks")).json()
        assert [e["id"] for e in listed["items"]] == [endpoint["id"]]
        assert "secret" not in listed["items"][0]
        assert listed["items"][0]["secret_hint"] == "…" + endpoint["secret"][-4:]

        async with transaction(desk.runtime.sessions) as session:
            ana = Customer(name="Ana", email="ana@shop.example")
            session.add(ana)
            await session.flush()
            await tickets.create(
                session,
                requester=ana,
                service_id=BILLING,
                subject="Invoice",
                message="Twice",
                who=Who(Actor.CUSTOMER, ana.id, "Ana"),
                now=desk.clock.now(),
            )
        async with Deliverer(desk.runtime.sessions, mail_settings()) as deliverer:
            await deliverer.send_webhooks(desk.clock.now())
        log = (await http.get(f"/api/admin/webhooks/{endpoint['id']}/deliveries")).json()
        [first] = log["items"]
        assert (first["status"], first["response_status"], first["attempts"]) == ("sent", 200, 1)
        assert first["event_type"] == "ticket.created" and log["total"] == 1

        again = await http.post(f"/api/admin/webhooks/deliveries/{first['id']}/redeliver")
        assert again.status_code == 202 and again.json()["redelivery_of"] == first["id"]
        assert again.json()["event_id"] == first["event_id"] and again.json()["status"] == "pending"
        async with Deliverer(desk.runtime.sessions, mail_settings()) as deliverer:
            await deliverer.send_webhooks(desk.clock.now())
        assert [e["id"] for e in hooks.events()] == [first["event_id"]] * 2  # same event, again

        rotated = await http.patch(
            f"/api/admin/webhooks/{endpoint['id']}", json={"rotate_secret": True, "active": False}
        )
        assert rotated.status_code == 200 and rotated.json()["active"] is False
        assert rotated.json()["secret"] != endpoint["secret"]
        pending = await http.get(
            f"/api/admin/webhooks/{endpoint['id']}/deliveries", params={"status": "pending"}
        )
        assert pending.json()["items"] == []
        assert (await http.delete(f"/api/admin/webhooks/{endpoint['id']}")).status_code == 204
        gone = await http.get(f"/api/admin/webhooks/{endpoint['id']}/deliveries")
        assert gone.status_code == 404 and gone.json()["code"] == "not_found"
        missing = await http.post("/api/admin/webhooks/deliveries/999999/redeliver")
        assert missing.status_code == 404
    async with desk.runtime.sessions() as session:  # the log went with the endpoint
        assert list(await session.scalars(select(WebhookDelivery.id))) == []
    async with _http(desk, await desk.login(bea, bea_password)) as http:
        refused = await http.get("/api/admin/webhooks")
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only"


# ------------------------------------------------------------------ the documented receiver
def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the example receiver exited: {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError("the example receiver did not start")


async def test_the_documented_example_receiver_stores_converted_chats(
    sessions: Sessions, tmp_path: Path
) -> None:
    port, store = free_port(), tmp_path / "chats.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "docs/examples/receiver.py"),
            "--port",
            str(port),
            "--secret",
            SECRET,
            "--store",
            str(store),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        await _endpoint(
            sessions,
            f"http://127.0.0.1:{port}/chatdesk",
            [events.TICKET_CREATED, events.TICKET_UPDATED],
        )
        ana, bea = await _people(sessions)
        ticket_id = await _convert_a_chat(sessions, ana, bea)
        async with Deliverer(sessions, mail_settings()) as deliverer:
            report = await deliverer.send_webhooks(NOW)
            assert len(report.webhooks_sent) == 1
            [delivery] = await _deliveries(sessions)
            async with transaction(sessions) as session:  # delivered twice: stored once
                session.add(redelivery(delivery, NOW))
            assert len((await deliverer.send_webhooks(NOW)).webhooks_sent) == 1
        [record] = [json.loads(line) for line in store.read_text().splitlines()]
        assert record["chatdesk_ticket_id"] == ticket_id and record["chat_id"] == 7
        assert [(t["name"], t["text"]) for t in record["transcript"]] == [
            ("Ana", "My invoice is wrong"),
            ("Bea", "Fixed it for you"),
        ]
        body = b'{"id":"forged","type":"ticket.created","data":{}}'
        async with httpx.AsyncClient() as http:
            forged = await http.post(
                f"http://127.0.0.1:{port}/chatdesk",
                content=body,
                headers={SIGNATURE_HEADER: signature("whsec_wrong", body, int(time.time()))},
            )
            stale = await http.post(
                f"http://127.0.0.1:{port}/chatdesk",
                content=body,
                headers={SIGNATURE_HEADER: signature(SECRET, body, int(time.time()) - 600)},
            )
        assert forged.status_code == 401 and stale.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)


# ------------------------------------------------------------------ a live chat, end to end
async def test_a_live_chat_tells_the_integrations_everything_in_order(
    desk: LiveDesk, hooks: Receiver
) -> None:
    await _endpoint(desk.runtime.sessions, f"{hooks.base_url}/ok", list(events.ALL_TYPES))
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana, message="My invoice is wrong", email="ana@example.com")
    await bea.say(chat["id"], "Fixed it for you")
    await bea.end(chat["id"])
    await ana.expect("survey")
    await ana.send({"type": "rate", "rating": 5})
    await ana.expect("rated")
    async with Deliverer(desk.runtime.sessions, mail_settings()) as deliverer:
        await deliverer.send_webhooks(desk.clock.now())
    got = hooks.events()
    assert [e["type"] for e in got] == [
        "chat.started",
        "ticket.created",
        "chat.ended",
        "survey.answered",
    ]
    started, created, ended, rated = got
    assert started["data"]["chat"]["id"] == chat["id"]
    assert started["data"]["customer"]["email"] == "ana@example.com"
    assert created["data"]["origin"] == "chat"
    bodies = [m["body"] for m in created["data"]["messages"]]
    assert "My invoice is wrong" in bodies and "Fixed it for you" in bodies
    assert ended["data"]["chat"] == {
        "id": chat["id"],
        "ticket_id": created["data"]["ticket"]["id"],
        "ended_by": "agent",
        "status": "resolved",
        "missed": False,
    }
    assert rated["data"]["survey"] == {"rating": 5, "comment": None}
    async with desk.runtime.sessions() as session:  # and the customer got an email
        [ack] = list(await session.scalars(select(OutboxEmail)))
    assert ack.recipient == "ana@example.com" and ack.kind == "created"
