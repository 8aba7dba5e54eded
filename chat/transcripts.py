"""Transcripts: store a chat message with its sequence number, then deliver it.

DESIGN.md principle 2, "persist, then deliver". Messages arriving in the same
event-loop pass are written in ONE transaction (group commit) and published after
it commits, so the hot path has no per-message commit and no awaited publish.
Sequence numbers come from `chats.last_seq` under the row's lock, so two
processes writing to one chat still number its messages 1, 2, 3 … without gaps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.bus import Bus
from chat.errors import ChatClosed, DatabaseUnavailable
from chat.models import Chat, ChatMessage
from chat.states import OPEN_STATES
from ticketing.clock import Clock
from ticketing.db import iso, transaction

log = logging.getLogger("chat.transcripts")

# Upper bound on one group commit; keeps a transaction short under heavy load.
MAX_BATCH = 500


@dataclass(frozen=True)
class NewMessage:
    chat_id: int
    sender: str  # customer | agent | system
    sender_id: int | None
    author_name: str
    body: str
    client_id: str | None
    i18n: dict[str, Any] | None = None  # system lines: {"key": …, "params": {…}}


@dataclass(frozen=True)
class StoredMessage:
    """A stored transcript line as the group-commit writer returns it: plain data, no ORM
    state (building and flushing ORM objects was most of the writer's CPU)."""

    chat_id: int
    seq: int
    sender: str
    sender_id: int | None
    author_name: str
    body: str
    client_id: str | None
    i18n: dict[str, Any] | None
    created_at: dt.datetime


_STORED_COLUMNS = tuple(f.name for f in dataclasses.fields(StoredMessage))
_BUMP_COUNTER = (
    update(Chat.__table__)
    .where(Chat.__table__.c.id == bindparam("chat"))
    .values(
        last_seq=bindparam("seq_to"),
        last_customer_activity_at=func.coalesce(
            bindparam("activity", type_=Chat.__table__.c.last_customer_activity_at.type),
            Chat.__table__.c.last_customer_activity_at,
        ),
    )
)


def message_frame(row: ChatMessage | StoredMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "chat_id": row.chat_id,
        "seq": row.seq,
        "sender": row.sender,
        "author_name": row.author_name,
        "body": row.body,
        "client_id": row.client_id,
        "i18n": row.i18n,
        "created_at": iso(row.created_at),
    }


async def append_messages(
    session: AsyncSession, chat_id: int, messages: Sequence[NewMessage], now: dt.datetime
) -> list[tuple[ChatMessage, bool]]:
    """Store messages of one chat inside the caller's transaction.

    Returns, in input order, each message's row and whether it is new (False: a
    resend of a client id already stored, answered with the stored row). Raises
    ChatClosed, having written nothing, when the chat no longer takes messages.
    """
    client_ids = [m.client_id for m in messages if m.client_id]
    stored: dict[tuple[str, str], ChatMessage] = {}
    if client_ids:
        rows = await session.scalars(
            select(ChatMessage).where(
                ChatMessage.chat_id == chat_id, ChatMessage.client_id.in_(client_ids)
            )
        )
        stored = {(r.sender, r.client_id or ""): r for r in rows}
    results: list[tuple[ChatMessage, bool] | None] = [None] * len(messages)
    fresh: list[int] = []
    first_in_batch: dict[tuple[str, str], int] = {}
    repeats: dict[int, int] = {}
    for index, m in enumerate(messages):
        if m.client_id:
            key = (m.sender, m.client_id)
            if key in stored:
                results[index] = (stored[key], False)
                continue
            if key in first_in_batch:
                repeats[index] = first_in_batch[key]
                continue
            first_in_batch[key] = index
        fresh.append(index)
    if fresh:
        values: dict[str, Any] = {"last_seq": Chat.last_seq + len(fresh)}
        if any(messages[i].sender == "customer" for i in fresh):
            values["last_customer_activity_at"] = now
        last_seq = await session.scalar(
            update(Chat)
            .where(Chat.id == chat_id, Chat.state.in_(OPEN_STATES))
            .values(**values)
            .returning(Chat.last_seq)
        )
        if last_seq is None:
            raise ChatClosed()
        for seq, index in enumerate(fresh, start=last_seq - len(fresh) + 1):
            m = messages[index]
            row = ChatMessage(
                chat_id=chat_id,
                seq=seq,
                sender=m.sender,
                sender_id=m.sender_id,
                author_name=m.author_name,
                body=m.body,
                client_id=m.client_id,
                i18n=m.i18n,
                created_at=now,
            )
            session.add(row)
            results[index] = (row, True)
        await session.flush()
    for index, original in repeats.items():
        first = results[original]
        assert first is not None  # filled above: the first of a repeated id is fresh
        results[index] = (first[0], False)
    return [r for r in results if r is not None]


async def append_batch(
    session: AsyncSession, messages: Sequence[NewMessage], now: dt.datetime
) -> list[tuple[StoredMessage, bool] | ChatClosed]:
    """Store messages of any number of chats with a constant number of statements.

    One SELECT finds resends, one SELECT (… FOR UPDATE on PostgreSQL) reads every chat's
    state and counter, one executemany UPDATE moves the counters and one executemany
    INSERT stores the rows: four statements for any batch, each compiled once. The
    results are `append_messages`' for each chat, in input order, except that a chat
    which no longer takes messages gets ChatClosed for each of its messages (and
    nothing written) instead of raising.
    """
    table = ChatMessage.__table__
    chats = Chat.__table__
    keys = {(m.chat_id, m.sender, m.client_id) for m in messages if m.client_id}
    stored: dict[tuple[int, str, str | None], StoredMessage] = {}
    if keys:
        rows = await session.execute(
            select(*(table.c[name] for name in _STORED_COLUMNS)).where(
                table.c.chat_id.in_(sorted({k[0] for k in keys})),
                table.c.client_id.in_(sorted({str(k[2]) for k in keys})),
            )
        )
        for row in rows:
            message = StoredMessage(*row)
            key = (message.chat_id, message.sender, message.client_id)
            if key in keys:
                stored[key] = message
    results: list[tuple[StoredMessage, bool] | ChatClosed | None] = [None] * len(messages)
    fresh: dict[int, list[int]] = {}
    first_in_batch: dict[tuple[int, str, str], int] = {}
    repeats: dict[int, int] = {}
    for index, m in enumerate(messages):
        if m.client_id:
            key = (m.chat_id, m.sender, m.client_id)
            if key in stored:
                results[index] = (stored[key], False)
                continue
            if key in first_in_batch:
                repeats[index] = first_in_batch[key]
                continue
            first_in_batch[key] = index
        fresh.setdefault(m.chat_id, []).append(index)
    if fresh:
        chat_ids = sorted(fresh)
        # Read every chat's state and counter, locked on PostgreSQL (in id order, so two
        # processes never deadlock); SQLite's one connection already serialises writers.
        current = select(chats.c.id, chats.c.state, chats.c.last_seq).where(
            chats.c.id.in_(chat_ids)
        )
        if session.bind.dialect.name == "postgresql":
            current = current.order_by(chats.c.id).with_for_update()
        state_of = {row.id: (row.state, row.last_seq) for row in await session.execute(current)}
        counters: list[dict[str, Any]] = []
        new_rows: list[dict[str, Any]] = []
        for chat_id in chat_ids:
            indexes = fresh[chat_id]
            state, last_seq = state_of.get(chat_id, (None, 0))
            if state not in OPEN_STATES:
                for index in indexes:
                    results[index] = ChatClosed()
                continue
            for seq, index in enumerate(indexes, start=last_seq + 1):
                m = messages[index]
                row = StoredMessage(
                    chat_id,
                    seq,
                    m.sender,
                    m.sender_id,
                    m.author_name,
                    m.body,
                    m.client_id,
                    m.i18n,
                    now,
                )
                new_rows.append(dataclasses.asdict(row))
                results[index] = (row, True)
            customer = any(messages[i].sender == "customer" for i in indexes)
            counters.append(
                {
                    "chat": chat_id,
                    "seq_to": last_seq + len(indexes),
                    "activity": now if customer else None,
                }
            )
        if counters:
            # One statement text for any batch (its compiled form is cached), run as
            # executemany: one round trip to the driver for every chat of the batch.
            await session.execute(_BUMP_COUNTER, counters)
        if new_rows:
            await session.execute(insert(table), new_rows)
    for index, original in repeats.items():
        first = results[original]
        assert first is not None  # the first of a repeated id is fresh or closed
        results[index] = first if isinstance(first, ChatClosed) else (first[0], False)
    return [r for r in results if r is not None]


async def messages_after(
    session: AsyncSession, chat_id: int, after_seq: int, limit: int = 1000
) -> list[ChatMessage]:
    rows = await session.scalars(
        select(ChatMessage)
        .where(ChatMessage.chat_id == chat_id, ChatMessage.seq > after_seq)
        .order_by(ChatMessage.seq)
        .limit(limit)
    )
    return list(rows)


@dataclass
class _Pending:
    message: NewMessage
    future: asyncio.Future[tuple[StoredMessage, bool]] = field(repr=False)


class TranscriptWriter:
    """Group commit for chat messages: one transaction per event-loop pass of arrivals."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: Bus, clock: Clock) -> None:
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="transcript-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(DatabaseUnavailable())
        self._queue.clear()

    async def append(self, message: NewMessage) -> tuple[StoredMessage, bool]:
        """Store one message; returns once it is committed (and published if new)."""
        return await self.submit(message)

    def submit(self, message: NewMessage) -> asyncio.Future[tuple[StoredMessage, bool]]:
        """Queue one message for the next group commit; the future resolves after it.

        Messages are numbered in the order they are submitted, so a connection that
        submits without waiting still gets its messages stored in the order it sent them.
        """
        future: asyncio.Future[tuple[StoredMessage, bool]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.append(_Pending(message, future))
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # Let every handler that is ready in this loop pass add its message.
            await asyncio.sleep(0)
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._commit(batch)
        except IntegrityError:
            # Another process stored one of these client ids at the same moment;
            # fall back to one transaction per chat so only that chat retries.
            outcomes = {}
            for chat_batch in _by_chat(batch).values():
                outcomes.update(await self._commit_safely(chat_batch))
        except (OperationalError, DBAPIError, OSError) as exc:
            log.warning("transcript write failed: %s", exc)
            outcomes = {id(p): DatabaseUnavailable() for p in batch}
        except Exception:
            # A bug must cost this batch, not the writer task: a dead writer would leave
            # every later message of the process waiting for its ack forever.
            log.exception("transcript write failed")
            outcomes = {id(p): DatabaseUnavailable() for p in batch}
        for pending in batch:
            outcome = outcomes[id(pending)]
            if pending.future.done():
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                row, is_new = outcome
                if is_new:
                    self._bus.publish(f"chat:{row.chat_id}", message_frame(row))
                pending.future.set_result(outcome)

    async def _commit_safely(self, batch: list[_Pending]) -> dict[int, Any]:
        try:
            return await self._commit(batch)
        except (OperationalError, DBAPIError, OSError) as exc:
            log.warning("transcript write failed: %s", exc)
            return {id(p): DatabaseUnavailable() for p in batch}

    async def _commit(self, batch: list[_Pending]) -> dict[int, Any]:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            results = await append_batch(session, [p.message for p in batch], now)
        return {id(p): result for p, result in zip(batch, results, strict=True)}


def _by_chat(batch: list[_Pending]) -> dict[int, list[_Pending]]:
    grouped: dict[int, list[_Pending]] = {}
    for pending in batch:
        grouped.setdefault(pending.message.chat_id, []).append(pending)
    return grouped
