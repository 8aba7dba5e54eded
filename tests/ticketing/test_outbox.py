"""The durable outbox: claims, leases, backoff and final failure, on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Backend
from tests.ticketing.mailroom import mail_settings, mailbox
from ticketing.clock import FakeClock
from ticketing.db import create_engine, create_sessionmaker, transaction
from ticketing.deliveries import Deliverer
from ticketing.outbox import (
    FIRST_RETRY,
    LEASE,
    LONGEST_RETRY,
    MAX_ATTEMPTS,
    DeliveryStatus,
    OutboxEmail,
    Outcome,
    claim,
    finish,
    retry_delay,
    retry_now,
)

Sessions = async_sessionmaker[AsyncSession]
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


@given(attempt=st.integers(1, 40), rand=st.floats(0, 1))
def test_backoff_doubles_with_jitter_and_is_capped(attempt: int, rand: float) -> None:
    step = min(FIRST_RETRY * 2 ** (attempt - 1), LONGEST_RETRY)
    delay = retry_delay(attempt, lambda: rand)
    assert step / 2 <= delay <= step
    assert retry_delay(attempt + 1, lambda: rand) >= delay  # never shorter with more failures


def test_eight_attempts_span_about_two_hours() -> None:
    slowest = sum((retry_delay(n, lambda: 1.0) for n in range(1, MAX_ATTEMPTS)), dt.timedelta())
    assert dt.timedelta(hours=1) < slowest < dt.timedelta(hours=3)


def _email(n: int, at: dt.datetime = NOW) -> OutboxEmail:
    return OutboxEmail(
        kind="test",
        sender="Desk <support@desk.example.com>",
        recipient=f"customer{n}@example.com",
        subject=f"Email {n}",
        message_id=f"<m{n}-{at.timestamp()}@desk.example.com>",
        headers={},
        text_body=f"Hello {n}",
        html_body=f"<p>Hello {n}</p>",
        created_at=at,
        next_attempt_at=at,
    )


async def _queue(sessions: Sessions, count: int) -> list[int]:
    async with transaction(sessions) as session:
        rows = [_email(n) for n in range(count)]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


@pytest.fixture
async def second_worker(backend: Backend) -> AsyncIterator[Sessions]:
    """Another process's connection pool on the same database."""
    engine = create_engine(backend.database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _claim(sessions: Sessions, worker: str, now: dt.datetime, limit: int = 50) -> list[int]:
    async with transaction(sessions) as session:
        return await claim(session, OutboxEmail, now, worker, limit)


async def test_two_workers_claiming_at_once_never_take_the_same_row(
    sessions: Sessions, second_worker: Sessions
) -> None:
    ids = await _queue(sessions, 40)
    rounds = [
        asyncio.gather(_claim(sessions, "a", NOW, 7), _claim(second_worker, "b", NOW, 7))
        for _ in range(4)
    ]
    taken: list[int] = []
    for claimed in rounds:
        a, b = await claimed
        assert not set(a) & set(b)
        taken += a + b
    assert len(taken) == len(set(taken)) == 40 and sorted(taken) == ids


async def test_a_lease_keeps_a_row_until_it_runs_out_then_a_dead_workers_row_is_retried(
    sessions: Sessions, second_worker: Sessions
) -> None:
    [row_id] = await _queue(sessions, 1)
    assert await _claim(sessions, "a", NOW) == [row_id]
    assert await _claim(second_worker, "b", NOW + dt.timedelta(seconds=1)) == []
    later = NOW + LEASE + dt.timedelta(seconds=1)
    assert await _claim(second_worker, "b", later) == [row_id]  # "a" died mid-send
    async with transaction(sessions) as session:  # "a" wakes up: its result is not recorded
        assert await finish(session, OutboxEmail, row_id, "a", Outcome.sent(), later) is None
    async with transaction(second_worker) as session:
        assert (
            await finish(session, OutboxEmail, row_id, "b", Outcome.sent(), later)
            is DeliveryStatus.SENT
        )
    async with sessions() as session:
        row = await session.get(OutboxEmail, row_id)
        assert row is not None and row.attempts == 2 and row.locked_by is None


async def test_failures_back_off_then_fail_for_good_with_the_last_error(sessions: Sessions) -> None:
    [row_id] = await _queue(sessions, 1)
    now = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await _claim(sessions, "w", now) == [row_id]
        async with transaction(sessions) as session:
            status = await finish(
                session,
                OutboxEmail,
                row_id,
                "w",
                Outcome.failed(f"timeout #{attempt}"),
                now,
                lambda: 0.0,
            )
        async with sessions() as session:
            row = await session.get(OutboxEmail, row_id)
            assert row is not None and row.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert status is DeliveryStatus.PENDING
            assert row.next_attempt_at == now + retry_delay(attempt, lambda: 0.0)
            assert await _claim(sessions, "w", row.next_attempt_at - dt.timedelta(seconds=1)) == []
            now = row.next_attempt_at
    assert status is DeliveryStatus.FAILED
    assert row.last_error == f"timeout #{MAX_ATTEMPTS}" and row.finished_at == now
    assert await _claim(sessions, "w", now + dt.timedelta(days=1)) == []
    async with transaction(sessions) as session:  # an admin sends it again
        assert await retry_now(session, OutboxEmail, row_id, now)
    assert await _claim(sessions, "w", now) == [row_id]


async def test_a_permanent_refusal_is_not_retried(sessions: Sessions) -> None:
    [row_id] = await _queue(sessions, 1)
    await _claim(sessions, "w", NOW)
    async with transaction(sessions) as session:
        outcome = Outcome.failed("550 no such user", permanent=True)
        assert await finish(session, OutboxEmail, row_id, "w", outcome, NOW) is (
            DeliveryStatus.FAILED
        )
    async with sessions() as session:
        row = await session.get(OutboxEmail, row_id)
        assert row is not None and row.attempts == 1 and row.last_error == "550 no such user"


async def test_two_delivery_workers_send_every_email_exactly_once(
    sessions: Sessions, second_worker: Sessions
) -> None:
    ids = await _queue(sessions, 30)
    async with mailbox() as box:
        mail = mail_settings(box.port)
        async with (
            Deliverer(sessions, mail, worker="one") as one,
            Deliverer(second_worker, mail, worker="two") as two,
        ):
            reports = await asyncio.gather(
                one.send_emails(NOW), two.send_emails(NOW), one.send_emails(NOW)
            )
    sent = [row_id for report in reports for row_id in report.emails_sent]
    assert sorted(sent) == ids
    assert len(box.received) == 30 and len(set(box.message_ids())) == 30
    async with sessions() as session:
        statuses = set(await session.scalars(select(OutboxEmail.status)))
    assert statuses == {DeliveryStatus.SENT}


async def test_the_worker_loop_sends_what_is_due_and_stops_when_cancelled(
    sessions: Sessions,
) -> None:
    [row_id] = await _queue(sessions, 1)
    async with mailbox() as box, Deliverer(sessions, mail_settings(box.port)) as deliverer:
        loop = asyncio.create_task(deliverer.run(FakeClock(NOW)))
        try:
            async with asyncio.timeout(5):
                await box.arrived.wait()
        finally:
            loop.cancel()
            with pytest.raises(asyncio.CancelledError):
                await loop
    async with sessions() as session:
        row = await session.get(OutboxEmail, row_id)
    assert row is not None and row.status is DeliveryStatus.SENT
