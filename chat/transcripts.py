"""Transcripts: store a chat message with its sequence number, then deliver it.

DESIGN.md principle 2, "persist, then deliver". Messages arriving in the same
event-loop pass are written in ONE transaction (group commit) and published after
it commits, so the hot path has no per-message commit and no awaited publish.
Sequence numbers come from `chats.last_seq` under the row's lock, so two
processes writing to one chat still number its messages 1, 2, 3 … without gaps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.bus import Bus
from chat.errors import ChatClosed, DatabaseUnavailable
from chat.models import Chat, ChatMessage
from chat.states import OPEN_STATES
from ticketing.clock import Clock
from ticketing.db import transaction

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


def message_frame(row: ChatMessage) -> dict[str, Any]:
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


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


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
    future: asyncio.Future[tuple[ChatMessage, bool]] = field(repr=False)


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

    async def append(self, message: NewMessage) -> tuple[ChatMessage, bool]:
        """Store one message; returns once it is committed (and published if new)."""
        future: asyncio.Future[tuple[ChatMessage, bool]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.append(_Pending(message, future))
        self._wakeup.set()
        return await future

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
        outcomes: dict[int, Any] = {}
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            # A fixed order of row locks: two processes never deadlock on two chats.
            for chat_id, items in sorted(_by_chat(batch).items()):
                try:
                    results = await append_messages(
                        session, chat_id, [p.message for p in items], now
                    )
                except ChatClosed as exc:  # nothing was written for this chat
                    for p in items:
                        outcomes[id(p)] = exc
                    continue
                for p, result in zip(items, results, strict=True):
                    outcomes[id(p)] = result
        return outcomes


def _by_chat(batch: list[_Pending]) -> dict[int, list[_Pending]]:
    grouped: dict[int, list[_Pending]] = {}
    for pending in batch:
        grouped.setdefault(pending.message.chat_id, []).append(pending)
    return grouped
