"""Webhooks: chat and ticket events POSTed to the systems admins register, signed.

A listener of `ticketing/events.py` writes one `WebhookDelivery` row per endpoint
that wants the event, inside the change's transaction; the worker
(`ticketing/deliveries.py`) POSTs it later with short timeouts, so a slow or dead
endpoint never slows a chat. What a payload shows of a ticket comes from
`ticketing/tickets.py`, the one place that decides what each audience sees: an
endpoint flagged customer-facing gets the customer's view (never an internal note).

Signature (docs/integrations.md): `X-Chatdesk-Signature: t=<unix seconds>,v1=<hex>`
where hex is HMAC-SHA256 with the endpoint's secret of `f"{t}.{body}"`. A receiver
recomputes it over the raw body, compares in constant time, and refuses a `t` more
than five minutes away from its own clock (a replayed old delivery).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing import events
from ticketing.db import iso
from ticketing.models import Customer, Ticket, TicketMessage
from ticketing.outbox import Outcome, WebhookDelivery, WebhookEndpoint
from ticketing.tickets import agent_summary, message_view, ticket_summary

SIGNATURE_HEADER = "X-Chatdesk-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300  # the receiver's window against replays
USER_AGENT = "Chatdesk-Webhooks/1"
# An endpoint has this long to answer. Deliveries run concurrently in the worker,
# so one slow endpoint delays only its own rows, and never a chat.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RESPONSE_SNIPPET_BYTES = 500  # of an error answer, kept in the delivery log
EVENT_TYPES = events.ALL_TYPES  # what an endpoint may subscribe to


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: True only for our signature of this body, made recently."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).partition(",v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# ------------------------------------------------------------------ the listener
_ENDPOINTS_KEY = "webhooks.active_endpoints"


@dataclass(frozen=True)
class _Endpoint:
    """What queueing needs of an endpoint: plain values, safe to keep across a savepoint."""

    id: int
    event_types: tuple[str, ...]
    customer_facing: bool


_endpoints = WebhookEndpoint.__table__
# Built once (every transaction that emits an event reads it): building costs as much as
# running a statement this small.
_ACTIVE_ENDPOINTS = (
    select(_endpoints.c.id, _endpoints.c.event_types, _endpoints.c.customer_facing)
    .where(_endpoints.c.active.is_(True))
    .order_by(_endpoints.c.id)
)


async def _active_endpoints(session: AsyncSession) -> list[_Endpoint]:
    """The active endpoints, read once per transaction: a chat's ending emits two events,
    and each query is a round trip. Keyed on the transaction object, so a later
    transaction of the same session (which may follow an admin change) reads afresh."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_ENDPOINTS_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    rows = await session.execute(_ACTIVE_ENDPOINTS)
    endpoints = [_Endpoint(i, tuple(types or ()), bool(facing)) for i, types, facing in rows]
    session.info[_ENDPOINTS_KEY] = (transaction, endpoints)
    return endpoints


@events.listen
async def queue_webhooks(session: AsyncSession, event: events.DomainEvent) -> None:
    wanted = [
        endpoint
        for endpoint in await _active_endpoints(session)
        if event.type in endpoint.event_types
    ]
    if not wanted:
        return
    event_id = uuid.uuid4().hex
    bodies: dict[bool, str | None] = {}
    for endpoint in wanted:
        audience = endpoint.customer_facing
        if audience not in bodies:
            bodies[audience] = await payload(session, event, event_id, customer_facing=audience)
        body = bodies[audience]
        if body is None:
            continue  # nothing this audience may see (an internal note)
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=event.type,
                body=body,
                created_at=event.at,
                next_attempt_at=event.at,
            )
        )
    await session.flush()


async def payload(
    session: AsyncSession, event: events.DomainEvent, event_id: str, *, customer_facing: bool
) -> str | None:
    """The JSON body of an event for one audience; None when it may not see the event."""
    data: dict[str, Any] = {"actor": event.data.get("actor")}
    ticket = await _ticket(session, event.ticket_id)
    if ticket is not None:
        data["ticket"] = ticket_summary(ticket) if customer_facing else agent_summary(ticket)
    if event.chat_id is not None:
        data["chat"] = {"id": event.chat_id}
    if event.type == events.CHAT_STARTED:
        customer = await session.get(Customer, event.data.get("customer_id"))
        data["chat"] |= {
            "service_id": event.data.get("service_id"),
            "subject": event.data.get("subject"),
        }
        data["customer"] = (
            {"id": customer.id, "name": customer.name, "email": customer.email}
            if customer
            else None
        )
    elif event.type == events.CHAT_ENDED:
        data["chat"] |= {
            "ticket_id": event.ticket_id,
            "ended_by": event.data.get("ended_by"),
            "status": event.data.get("status"),
            "missed": event.data.get("missed"),
        }
    elif event.type == events.TICKET_CREATED and ticket is not None:
        # For a converted chat this is the whole transcript.
        data["origin"] = event.data.get("origin")
        data["messages"] = await _messages(session, ticket.id, customer_facing)
    elif event.type == events.TICKET_UPDATED:
        change = event.data.get("change")
        data["change"] = change
        if change in ("reply", "note"):
            message = await session.get(TicketMessage, event.data.get("message_id"))
            if message is None or (message.internal and customer_facing):
                return None
            data["message"] = message_view(message)
        elif change == "fields":
            data["fields"] = event.data.get("fields")
        elif change == "agent":
            data["agent_id"] = event.data.get("agent_id")
    elif event.type == events.TICKET_STATUS_CHANGED:
        data |= {k: event.data.get(k) for k in ("from", "to", "reason")}
    elif event.type == events.TICKET_REMINDER:
        data["reminder"] = event.data.get("reminder")
    elif event.type == events.SURVEY_ANSWERED:
        data["survey"] = {"rating": event.data.get("rating"), "comment": event.data.get("comment")}
    envelope = {"id": event_id, "type": event.type, "created_at": iso(event.at), "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


async def _ticket(session: AsyncSession, ticket_id: int | None) -> Ticket | None:
    if ticket_id is None:
        return None
    ticket = await session.get(Ticket, ticket_id)
    if ticket is not None:
        # The service layer changes ids (agent_id, service_id) without the objects;
        # load them as they are now, for the shared views.
        await session.refresh(ticket, ["requester", "agent", "service"])
    return ticket


async def _messages(
    session: AsyncSession, ticket_id: int, customer_facing: bool
) -> list[dict[str, Any]]:
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
    if customer_facing:
        query = query.where(TicketMessage.internal.is_(False))
    rows = await session.scalars(query.order_by(TicketMessage.created_at, TicketMessage.id))
    return [message_view(m) for m in rows]


# ------------------------------------------------------------------ sending
async def post(
    client: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    timestamp: int | None = None,
) -> Outcome:
    """One attempt: POST the stored body, signed now. Never raises for the endpoint's faults."""
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(endpoint.secret, body, timestamp or int(time.time())),
        "X-Chatdesk-Event": delivery.event_type,
        "X-Chatdesk-Event-Id": delivery.event_id,
        "X-Chatdesk-Delivery": str(delivery.id),
    }
    try:
        async with client.stream("POST", endpoint.url, content=body, headers=headers) as response:
            if 200 <= response.status_code < 300:
                return Outcome.sent(response.status_code)
            snippet = b""
            async for chunk in response.aiter_bytes():
                snippet += chunk
                if len(snippet) >= RESPONSE_SNIPPET_BYTES:
                    break
            text = snippet[:RESPONSE_SNIPPET_BYTES].decode("utf-8", "replace").strip()
            return Outcome.failed(
                f"HTTP {response.status_code}" + (f": {text}" if text else ""),
                response_status=response.status_code,
            )
    except httpx.TimeoutException:
        return Outcome.failed("The endpoint did not answer in time.")
    except httpx.HTTPError as exc:
        return Outcome.failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "response_status": delivery.response_status,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "last_attempt_at": iso(delivery.last_attempt_at),
        "next_attempt_at": iso(delivery.next_attempt_at)
        if delivery.status.value == "pending"
        else None,
        "finished_at": iso(delivery.finished_at),
        "redelivery_of": delivery.redelivery_of,
    }


def redelivery(original: WebhookDelivery, now: dt.datetime) -> WebhookDelivery:
    """A new delivery of the same event (same id and body), on an admin's demand."""
    return WebhookDelivery(
        endpoint_id=original.endpoint_id,
        event_id=original.event_id,
        event_type=original.event_type,
        body=original.body,
        created_at=now,
        next_attempt_at=now,
        redelivery_of=original.id,
    )
