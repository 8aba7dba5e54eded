"""The durable outboxes: email to send, webhook deliveries, and the ledger of mail received.

DESIGN.md, principle 1 and "worker: timers, outbox (email, webhooks)". A change and
the news of it are written in one transaction (`ticketing/events.py` listeners add
rows here); the worker sends them later, so a slow mail server or a dead webhook
endpoint never slows a chat, and nothing is lost when a process dies.

Claiming is one conditional UPDATE: a row is taken only while it is pending, due and
not leased by somebody else; the taker writes its name and a lease (`locked_until`).
On PostgreSQL the candidate rows are picked `FOR UPDATE SKIP LOCKED`, so two workers
take different rows instead of waiting on each other; on SQLite (one writer at a
time) the same statement is simply atomic. Either way each row goes to exactly one
worker while its lease runs. A worker that dies mid-send loses its lease and the row
is tried again: delivery is at-least-once across crashes, exactly-once otherwise, and
the stable Message-ID / event id lets the far side recognise a repeat.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.db import Base, UTCDateTime, constant, utcnow
from ticketing.models import _enum

# Retries: 30 s, 1 min, 2 min … doubling up to an hour apart; eight tries span about
# two hours, long enough to ride out a mail server's or a receiver's restart.
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=1)
MAX_ATTEMPTS = 8
# A claimed row is ours this long. It must outlast the slowest send (SMTP and HTTP
# time out well before), or a second worker could take a row still being sent.
LEASE = dt.timedelta(minutes=2)
LAST_ERROR_CHARS = 1000


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"  # accepted by the mail server / answered 2xx by the endpoint
    FAILED = "failed"  # gave up: a permanent refusal, or every attempt failed
    HELD = "held"  # no SMTP server is configured: kept here, visible to admins


class OutboxRow:
    """The columns every outbox shares: status, attempts, backoff and the lease."""

    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEmail(OutboxRow, Base):
    """One email to one recipient, rendered when the change happened (what admins see)."""

    __tablename__ = "outbox_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # created, reply, pending, resolved, …
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    chat_id: Mapped[int | None] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(320))  # the From header
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    lang: Mapped[str] = mapped_column(String(10), default="en")
    subject: Mapped[str] = mapped_column(String(300))
    # Threading: our own Message-ID, and the ids this email answers.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[str | None] = mapped_column(Text)
    reply_to: Mapped[str | None] = mapped_column(String(320))
    # Extra headers (Auto-Submitted, …) as a JSON object.
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_emails_due", "status", "next_attempt_at"),)


class WebhookEndpoint(Base):
    """An external system that wants to hear about chats and tickets (admins register it)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A customer-facing endpoint (a customer community, a status page…) sees what a
    # customer sees: never an internal note, nor the agents' fields.
    customer_facing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(OutboxRow, Base):
    """One event for one endpoint; the body is stored as sent, so it can be redelivered."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(40), index=True)  # same for every endpoint
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    redelivery_of: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class InboundEmail(Base):
    """Every email received, once per Message-ID: the same email delivered twice is one.

    It also remembers which ticket an email went to, so answers that quote its
    Message-ID (In-Reply-To, References) find the ticket again.
    """

    __tablename__ = "inbound_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    outcome: Mapped[str] = mapped_column(String(20))  # created, replied, ignored
    reason: Mapped[str | None] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    size: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


OutboxModel = type[OutboxEmail] | type[WebhookDelivery]


def retry_delay(attempt: int, rand: Callable[[], float] = random.random) -> dt.timedelta:
    """How long to wait after failed attempt number `attempt` (1-based).

    Exponential, capped, with "equal jitter": between half and all of the step, so
    rows that failed together (a mail server restart) don't all come back together.
    """
    step = min(FIRST_RETRY * 2 ** max(0, attempt - 1), LONGEST_RETRY)
    return step / 2 + step / 2 * rand()


def due_rows(model: OutboxModel, now: dt.datetime) -> tuple[Any, ...]:
    return (
        model.status == constant(DeliveryStatus.PENDING),
        model.next_attempt_at <= now,
        or_(model.locked_until.is_(None), model.locked_until <= now),
    )


async def claim(
    session: AsyncSession,
    model: OutboxModel,
    now: dt.datetime,
    worker: str,
    limit: int,
    lease: dt.timedelta = LEASE,
) -> list[int]:
    """Take up to `limit` due rows for `worker`; every row goes to one worker only.

    The attempt is counted here, not after sending: a row whose sending kills the
    worker still runs out of attempts instead of killing every worker in turn.
    """
    due = (
        select(model.id)
        .where(*due_rows(model, now))
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(model)
        .where(model.id.in_(due), *due_rows(model, now))
        .values(
            locked_by=worker,
            locked_until=now + lease,
            attempts=model.attempts + 1,
            last_attempt_at=now,
        )
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. `permanent` failures are not retried."""

    ok: bool
    error: str | None = None
    permanent: bool = False
    response_status: int | None = None

    @classmethod
    def sent(cls, response_status: int | None = None) -> Outcome:
        return cls(True, None, False, response_status)

    @classmethod
    def failed(
        cls, error: str, *, permanent: bool = False, response_status: int | None = None
    ) -> Outcome:
        return cls(False, error[:LAST_ERROR_CHARS], permanent, response_status)


async def finish(
    session: AsyncSession,
    model: OutboxModel,
    row_id: int,
    worker: str,
    outcome: Outcome,
    now: dt.datetime,
    rand: Callable[[], float] = random.random,
) -> DeliveryStatus | None:
    """Record an attempt, if `worker` still holds the row's lease; returns the new status.

    None means the lease was lost (the attempt outlived it and another worker may
    have taken the row): nothing is overwritten.
    """
    row = await session.get(model, row_id, populate_existing=True)
    if row is None or row.locked_by != worker or row.status is not DeliveryStatus.PENDING:
        return None
    values: dict[str, Any] = {"locked_by": None, "locked_until": None}
    if isinstance(row, WebhookDelivery):
        values["response_status"] = outcome.response_status
    if outcome.ok:
        values |= {"status": DeliveryStatus.SENT, "finished_at": now, "last_error": None}
    elif outcome.permanent or row.attempts >= MAX_ATTEMPTS:
        values |= {"status": DeliveryStatus.FAILED, "finished_at": now, "last_error": outcome.error}
    else:
        values |= {
            "next_attempt_at": now + retry_delay(row.attempts, rand),
            "last_error": outcome.error,
        }
    result = await session.execute(
        update(model)
        .where(
            model.id == row_id,
            model.locked_by == worker,
            model.status == DeliveryStatus.PENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return values.get("status", DeliveryStatus.PENDING)


async def retry_now(
    session: AsyncSession, model: OutboxModel, row_id: int, now: dt.datetime
) -> bool:
    """Put a held or failed row back in line with fresh attempts (an admin's "send again")."""
    result = await session.execute(
        update(model)
        .where(
            model.id == row_id,
            model.status.in_((DeliveryStatus.FAILED, DeliveryStatus.HELD)),
        )
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            locked_by=None,
            locked_until=None,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
