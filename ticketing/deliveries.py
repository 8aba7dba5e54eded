"""The worker's delivery step: send due emails and POST due webhooks from their outboxes.

Every process that runs timers runs this loop (`chat/dispatcher.py`); claims in
`ticketing/outbox.py` make sure each row is sent by one of them only. Sending
happens outside any transaction (a slow mail server holds no lock); each attempt's
result is then recorded in a short transaction of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Protocol

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketing.clock import Clock
from ticketing.db import transaction
from ticketing.mail_out import MailSettings, SmtpTransport, build_message, outcome_of_smtp_error
from ticketing.outbox import (
    DeliveryStatus,
    OutboxEmail,
    OutboxModel,
    Outcome,
    WebhookDelivery,
    WebhookEndpoint,
    claim,
    due_rows,
    finish,
)
from ticketing.webhooks import TIMEOUT, post

log = logging.getLogger("ticketing.deliveries")

# How often the loop looks for due rows. New rows wait at most this long; an idle
# desk pays two small indexed queries per interval.
DELIVERY_INTERVAL_SECONDS = 1.0
BATCH = 50  # rows claimed per step and kind
# In flight at once: a few SMTP connections, more HTTP requests (endpoints are many,
# and one slow endpoint must not hold up the others).
EMAIL_CONCURRENCY = 4
WEBHOOK_CONCURRENCY = 10
NO_SMTP = "Not sent: no SMTP server is configured (SMTP_HOST). Kept here; send it again later."
ENDPOINT_PAUSED = "Not sent: the endpoint is paused."


class MailTransport(Protocol):
    async def send(self, message: EmailMessage, sender: str, recipients: Sequence[str]) -> None: ...


@dataclass
class DeliveryReport:
    """What one step did, by row id (tests and logs read it)."""

    emails_sent: list[int] = field(default_factory=list)
    emails_retrying: list[int] = field(default_factory=list)
    emails_failed: list[int] = field(default_factory=list)
    emails_held: int = 0
    webhooks_sent: list[int] = field(default_factory=list)
    webhooks_retrying: list[int] = field(default_factory=list)
    webhooks_failed: list[int] = field(default_factory=list)

    def count(self, status: DeliveryStatus | None, row_id: int, kind: str) -> None:
        """File a row under `kind` (emails, webhooks) by what its attempt came to."""
        buckets = {
            DeliveryStatus.SENT: "sent",
            DeliveryStatus.PENDING: "retrying",
            DeliveryStatus.FAILED: "failed",
        }
        if status in buckets:
            getattr(self, f"{kind}_{buckets[status]}").append(row_id)


class Deliverer:
    """Sends what is due, as one named worker. Use as `async with Deliverer(...) as d:`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        mail: MailSettings,
        *,
        worker: str | None = None,
        transport: MailTransport | None = None,
        http: httpx.AsyncClient | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.sessions = sessions
        self.mail = mail
        self.worker = worker or f"deliveries-{uuid.uuid4().hex[:12]}"
        self.transport: MailTransport = transport or SmtpTransport(mail)
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        self.rand = rand

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._own_http:
            await self.http.aclose()

    async def run(self, clock: Clock) -> None:
        """Forever: emails and webhooks each in their own loop, so a slow endpoint's
        timeout never holds up an email (nor a slow relay a webhook)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._loop(clock, self.send_emails, "email"))
            group.create_task(self._loop(clock, self.send_webhooks, "webhook"))

    async def _loop(
        self,
        clock: Clock,
        send: Callable[[dt.datetime], Awaitable[DeliveryReport]],
        what: str,
    ) -> None:
        while True:
            try:
                await send(clock.now())
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("%s delivery failed, retrying: %s", what, exc)
            except Exception:
                log.exception("%s delivery failed", what)
            await asyncio.sleep(DELIVERY_INTERVAL_SECONDS)

    async def step(self, now: dt.datetime) -> DeliveryReport:
        report = DeliveryReport()
        await asyncio.gather(self.send_emails(now, report), self.send_webhooks(now, report))
        return report

    # -------------------------------------------------------------- email
    async def send_emails(
        self, now: dt.datetime, report: DeliveryReport | None = None
    ) -> DeliveryReport:
        report = report or DeliveryReport()
        if not self.mail.smtp_configured:
            report.emails_held = await self._hold_emails(now)
            return report
        rows = await self._claimed(OutboxEmail, now)
        limit = asyncio.Semaphore(EMAIL_CONCURRENCY)

        async def one(row: OutboxEmail) -> None:
            async with limit:
                try:
                    await self.transport.send(
                        build_message(row), self.mail.address, [row.recipient]
                    )
                    outcome = Outcome.sent()
                except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
                    outcome = outcome_of_smtp_error(exc)
                status = await self._finish(OutboxEmail, row.id, outcome, now)
                report.count(status, row.id, "emails")
                if status is DeliveryStatus.FAILED:
                    log.warning(
                        "email %s to %s failed for good: %s", row.id, row.recipient, outcome.error
                    )

        await asyncio.gather(*(one(row) for row in rows))
        return report

    async def _hold_emails(self, now: dt.datetime) -> int:
        """No SMTP: mark due emails held (shown to admins) instead of trying to send them."""
        if not await self._any_due(OutboxEmail, now):
            return 0
        async with transaction(self.sessions) as session:
            result = await session.execute(
                update(OutboxEmail)
                .where(*due_rows(OutboxEmail, now))
                .values(status=DeliveryStatus.HELD, last_error=NO_SMTP, finished_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -------------------------------------------------------------- webhooks
    async def send_webhooks(
        self, now: dt.datetime, report: DeliveryReport | None = None
    ) -> DeliveryReport:
        report = report or DeliveryReport()
        rows = await self._claimed(WebhookDelivery, now)
        if not rows:
            return report
        async with self.sessions() as session:
            endpoints = {
                e.id: e
                for e in await session.scalars(
                    select(WebhookEndpoint).where(
                        WebhookEndpoint.id.in_({r.endpoint_id for r in rows})
                    )
                )
            }
        limit = asyncio.Semaphore(WEBHOOK_CONCURRENCY)

        async def one(row: WebhookDelivery) -> None:
            endpoint = endpoints.get(row.endpoint_id)
            async with limit:
                if endpoint is None or not endpoint.active:
                    outcome = Outcome.failed(ENDPOINT_PAUSED, permanent=True)
                else:
                    outcome = await post(self.http, endpoint, row)
                status = await self._finish(WebhookDelivery, row.id, outcome, now)
                report.count(status, row.id, "webhooks")

        await asyncio.gather(*(one(row) for row in rows))
        return report

    # -------------------------------------------------------------- shared
    async def _any_due(self, model: OutboxModel, now: dt.datetime) -> bool:
        """A read first: an idle desk's loop then never opens a write transaction."""
        async with self.sessions() as session:
            found = await session.scalar(select(model.id).where(*due_rows(model, now)).limit(1))
        return found is not None

    async def _claimed(self, model: OutboxModel, now: dt.datetime) -> list[Any]:
        if not await self._any_due(model, now):
            return []
        async with transaction(self.sessions) as session:
            ids = await claim(session, model, now, self.worker, BATCH)
        if not ids:
            return []
        async with self.sessions() as session:
            return list(await session.scalars(select(model).where(model.id.in_(ids))))

    async def _finish(
        self, model: OutboxModel, row_id: int, outcome: Outcome, now: dt.datetime
    ) -> DeliveryStatus | None:
        async with transaction(self.sessions) as session:
            status = await finish(session, model, row_id, self.worker, outcome, now, self.rand)
        if status is None:
            log.warning("%s %s: lease lost before the result was recorded", model.__name__, row_id)
        return status
