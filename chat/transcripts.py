"""Transcripts: store a chat message with its sequence number, then deliver it.

DESIGN.md principle 2, "persist, then deliver". Messages arriving within one
commit window (a few milliseconds) are written in ONE transaction (group commit) and
published after it commits, so the hot path has no per-message commit and no awaited publish.
Sequence numbers come from `chats.last_seq` under the row's lock, so two
processes writing to one chat still number its messages 1, 2, 3 … without gaps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from chat.bus import Bus
from chat.errors import ChatClosed, DatabaseUnavailable
from chat.models import Chat, ChatAttachment, ChatMessage
from chat.postgres_writer import CONFLICT_RETRIES, CONFLICTS, PostgresWriter
from chat.sqlite_writer import SqliteWriter
from chat.states import OPEN_STATES
from chat.transcript_batch import (
    BUMP_COUNTER,
    STORED_COLUMNS,
    GroupCommit,
    NewMessage,
    StoredMessage,
)
from ticketing.clock import Clock
from ticketing.db import iso, transaction

log = logging.getLogger("chat.transcripts")

# Upper bound on one group commit; keeps a transaction short under heavy load.
MAX_BATCH = 500
# A group commit's cost is mostly fixed (one thread hop on SQLite, five round trips on
# PostgreSQL), and the commit's size also sets how many messages each later step (bus,
# fan-out, socket writes) handles at once; so every commit waits this long for more
# messages, even under load (without it, a commit held what arrived during the last
# one). PostgreSQL sweep at 2,000 msgs/s: 14–16 messages a commit instead of 4, server
# CPU 248 instead of 347 µs a message, p50 latency 8.7 instead of 4.7 ms
# (docs/performance.md, "PostgreSQL transcript writer").
GROUP_COMMIT_WINDOW_SECONDS = 0.005
# What a failed group commit raises. A duplicate (another process stored one of the
# batch's client ids at the same moment) is retried chat by chat; the rest means the
# database is unreachable or refused the batch: its messages are answered
# database_unavailable and the clients resend them.
_DUPLICATE = (IntegrityError, sqlite3.IntegrityError, asyncpg.UniqueViolationError)
_UNAVAILABLE = (
    OperationalError,
    DBAPIError,
    OSError,
    TimeoutError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def attachment_view(attachment: ChatAttachment) -> dict[str, Any]:
    """A file as message frames carry it; `url` serves it to the chat's participants."""
    return file_view(
        attachment.id,
        attachment.chat_id,
        attachment.filename,
        attachment.content_type,
        attachment.size,
    )


def file_view(
    file_id: int, chat_id: int, filename: str, content_type: str, size: int
) -> dict[str, Any]:
    return {
        "id": file_id,
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "url": f"/api/chats/{chat_id}/attachments/{file_id}",
    }


def system_line(
    chat_id: int, seq: int, body: str, now: dt.datetime, key: str, **params: str
) -> StoredMessage:
    """A system line (joins, endings) already numbered by its statement: `body` in English
    for tickets, `key` and `params` for each viewer's language (static/i18n/*.json)."""
    return StoredMessage(
        chat_id=chat_id,
        seq=seq,
        sender="system",
        sender_id=None,
        author_name="",
        body=body,
        client_id=None,
        i18n={"key": key, "params": params},
        created_at=now,
    )


def message_frame(row: ChatMessage | StoredMessage) -> dict[str, Any]:
    # Only ChatMessage rows can name a file (StoredMessage, the writer's, never does); their
    # `attachment` is loaded wherever such rows are read (messages_after, chat_files).
    has_file = getattr(row, "attachment_id", None) is not None
    attachment: ChatAttachment | None = getattr(row, "attachment", None) if has_file else None
    return line_frame(row, attachment_view(attachment) if attachment is not None else None)


def line_frame(line: Any, attachment: dict[str, Any] | None) -> dict[str, Any]:
    """A stored line (anything with its columns as attributes) as `message` frames carry
    it, with its file's view if it has one."""
    return {
        "type": "message",
        "chat_id": line.chat_id,
        "seq": line.seq,
        "sender": line.sender,
        "author_name": line.author_name,
        "body": line.body,
        "client_id": line.client_id,
        "i18n": line.i18n,
        "attachment": attachment,
        "created_at": _iso_of_line(line.created_at),
    }


# A group commit stores every line at one instant: its frames share one ISO string.
_iso_of_line = functools.lru_cache(maxsize=1)(iso)


def _take_seqs(by_customer: bool) -> Any:
    """Numbers for n new lines of an open chat (none if it is closed): the counter's new
    value. A customer's line also marks them active (the inactivity timer reads it).
    On the table: callers that hold the chat as an ORM object refresh it or RETURN it."""
    chats = Chat.__table__
    values: dict[str, Any] = {"last_seq": chats.c.last_seq + bindparam("p_count")}
    if by_customer:
        values["last_customer_activity_at"] = bindparam(
            "p_now", type_=chats.c.last_customer_activity_at.type
        )
    return (
        update(chats)
        .where(chats.c.id == bindparam("p_chat_id"), chats.c.state.in_(OPEN_STATES))
        .values(**values)
        .returning(chats.c.last_seq)
    )


# Built once with bound parameters (chat/desk.py says why): every system line (joins,
# endings) takes numbers, and every join and resume replays.
_TAKE_SEQS = {by_customer: _take_seqs(by_customer) for by_customer in (False, True)}
_lines = ChatMessage.__table__
_files = ChatAttachment.__table__
_LINES_WITH_FILES = _lines.outerjoin(_files, _files.c.id == _lines.c.attachment_id)
_REPLAY = (
    select(
        _lines.c.chat_id,
        _lines.c.seq,
        _lines.c.sender,
        _lines.c.author_name,
        _lines.c.body,
        _lines.c.client_id,
        _lines.c.i18n,
        _lines.c.created_at,
        _files.c.id.label("file_id"),
        _files.c.filename,
        _files.c.content_type,
        _files.c.size,
    )
    .select_from(_LINES_WITH_FILES)
    .where(_lines.c.chat_id == bindparam("chat_id"), _lines.c.seq > bindparam("after_seq"))
    .order_by(_lines.c.seq)
    .limit(bindparam("limit"))
)
# An ending's transcripts, for the ticket (chat/endings.py: transcripts_of).
TRANSCRIPTS_OF = (
    select(
        _lines.c.chat_id,
        _lines.c.sender,
        _lines.c.sender_id,
        _lines.c.author_name,
        _lines.c.body,
        _lines.c.created_at,
        _files.c.id,
        _files.c.filename,
        _files.c.content_type,
        _files.c.size,
        _files.c.storage_key,
        _files.c.uploaded_by,
        _files.c.uploader_id,
        _files.c.created_at,
    )
    .select_from(_LINES_WITH_FILES)
    .where(_lines.c.chat_id.in_(bindparam("chat_ids", expanding=True)))
    .order_by(_lines.c.chat_id, _lines.c.seq)
)
_MESSAGES_AFTER = (
    select(ChatMessage)
    .where(ChatMessage.chat_id == bindparam("chat_id"), ChatMessage.seq > bindparam("after_seq"))
    .order_by(ChatMessage.seq)
    .limit(bindparam("limit"))
    .options(selectinload(ChatMessage.attachment))
)


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
        by_customer = any(messages[i].sender == "customer" for i in fresh)
        last_seq = await session.scalar(
            _TAKE_SEQS[by_customer], {"p_chat_id": chat_id, "p_count": len(fresh), "p_now": now}
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
                attachment_id=m.attachment_id,
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
    INSERT stores the rows: four statements for any batch, each compiled once (on
    asyncpg an executemany is one round trip). The results are `append_messages`' for
    each chat, in input order, except that a chat which no longer takes messages gets
    ChatClosed for each of its messages (and nothing written) instead of raising.
    """
    table = ChatMessage.__table__
    chats = Chat.__table__
    batch = GroupCommit(messages)
    found: list[StoredMessage] = []
    if batch.keys:
        # One exact probe of the unique index per key. (A row-value IN, `(chat_id, sender,
        # client_id) IN (VALUES …)`, is what SQLite cannot use an index for: it scans.)
        c = table.c
        rows = await session.execute(
            select(*(c[name] for name in STORED_COLUMNS)).where(
                or_(
                    *(
                        and_(c.chat_id == chat_id, c.sender == sender, c.client_id == client_id)
                        for chat_id, sender, client_id in batch.resend_keys()
                    )
                )
            )
        )
        found = [StoredMessage(*row) for row in rows]
    chat_ids = batch.classify(found)
    if chat_ids:
        # Read every chat's state and counter, locked on PostgreSQL (in id order, so two
        # processes never deadlock); SQLite's one connection already serialises writers.
        current = select(chats.c.id, chats.c.state, chats.c.last_seq).where(
            chats.c.id.in_(chat_ids)
        )
        if session.bind.dialect.name == "postgresql":
            current = current.order_by(chats.c.id).with_for_update()
        state_of = {row.id: (row.state, row.last_seq) for row in await session.execute(current)}
        counters, new_rows = batch.number(state_of, now)
        if counters:
            # One statement text for any batch (its compiled form is cached), run as
            # executemany: one round trip to the driver for every chat of the batch.
            await session.execute(BUMP_COUNTER, counters)
        if new_rows:
            await session.execute(insert(table), [dataclasses.asdict(r) for r in new_rows])
    return batch.outcome()


async def messages_after(
    session: AsyncSession, chat_id: int, after_seq: int, limit: int = 1000
) -> list[ChatMessage]:
    rows = await session.scalars(
        _MESSAGES_AFTER, {"chat_id": chat_id, "after_seq": after_seq, "limit": limit}
    )
    return list(rows)


async def message_frames_after(
    connection: AsyncConnection, chat_id: int, after_seq: int, limit: int = 1000
) -> list[dict[str, Any]]:
    """`messages_after` as frames, read as columns (no ORM objects): every chat a console
    takes and every chat a widget starts or resumes is replayed (chat/hub.py)."""
    rows = await connection.execute(
        _REPLAY, {"chat_id": chat_id, "after_seq": after_seq, "limit": limit}
    )
    return [
        line_frame(
            row,
            None
            if row.file_id is None
            else file_view(row.file_id, row.chat_id, row.filename, row.content_type, row.size),
        )
        for row in rows
    ]


async def messages_after_many(
    session: AsyncSession, after: Mapping[int, int], limit: int = 1000
) -> list[ChatMessage]:
    """`messages_after` for several chats (`{chat_id: after_seq}`) in one statement, in
    (chat, seq) order and at most `limit` per chat: a console's hello replays every chat
    it holds, and one round trip each made a reconnect's cost grow with the chats held."""
    if not after:
        return []
    if len(after) == 1:
        [(chat_id, seq)] = after.items()
        return await messages_after(session, chat_id, seq, limit)
    missed = or_(
        *(
            and_(ChatMessage.chat_id == chat_id, ChatMessage.seq > seq)
            for chat_id, seq in after.items()
        )
    )
    rank = func.row_number().over(partition_by=ChatMessage.chat_id, order_by=ChatMessage.seq)
    numbered = select(ChatMessage.id, rank.label("rank")).where(missed).subquery()
    rows = await session.scalars(
        select(ChatMessage)
        .join(numbered, numbered.c.id == ChatMessage.id)
        .where(numbered.c.rank <= limit)
        .order_by(ChatMessage.chat_id, ChatMessage.seq)
        .options(selectinload(ChatMessage.attachment))
    )
    return list(rows)


class SendOrder:
    """One connection's messages, stored in the order it sent them even across an outage.

    A failed group commit refuses its messages (`database_unavailable`), but the
    connection may already have sent later ones, which a commit after the database comes
    back would store first. So once a message is refused, that connection's later
    messages in the same chat are refused too until the refused one is sent again (the
    clients resend everything unconfirmed, in order). Kept on the connection: it goes with
    it, and a reconnect starts clean, as the client resends in order on `welcome`.
    """

    def __init__(self) -> None:
        self._refused: dict[int, str] = {}  # chat id -> first refused client_id

    def admits(self, message: NewMessage) -> bool:
        first = self._refused.get(message.chat_id)
        if first is None:
            return True
        if message.client_id != first:
            return False
        del self._refused[message.chat_id]  # the refused one is back: it and what follows
        return True

    def refused(self, message: NewMessage) -> None:
        if message.client_id is not None:
            self._refused.setdefault(message.chat_id, message.client_id)


@dataclass(slots=True)
class _Pending:
    message: NewMessage
    future: asyncio.Future[tuple[StoredMessage, bool]] = field(repr=False)
    order: SendOrder | None = None


class TranscriptWriter:
    """Group commit for chat messages: one transaction per commit window of arrivals."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: Bus, clock: Clock) -> None:
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The database's own writer (its own connection, fixed statements); None for an
        # in-memory SQLite database, which only the engine's connection can see.
        self._direct: SqliteWriter | PostgresWriter | None = None

    async def start(self) -> None:
        async with self._sessions() as session:  # no connection is made: just the engine
            engine = session.bind
        if isinstance(engine, AsyncEngine):
            self._direct = SqliteWriter.for_engine(engine) or PostgresWriter.for_engine(engine)
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
        if self._direct is not None:
            await self._direct.close()
            self._direct = None

    @property
    def echoes(self) -> bool:
        """Whether a new line stored now will reach its chat's followers (its sender's socket
        included) as a `message` event: not while the bus is down."""
        return self._bus.healthy

    async def append(self, message: NewMessage) -> tuple[StoredMessage, bool]:
        """Store one message; returns once it is committed (and published if new)."""
        return await self.submit(message)

    def submit(
        self, message: NewMessage, order: SendOrder | None = None
    ) -> asyncio.Future[tuple[StoredMessage, bool]]:
        """Queue one message for the next group commit; the future resolves after it.

        Messages are numbered in the order they are submitted, so a connection that
        submits without waiting still gets its messages stored in the order it sent them;
        with the connection's `order`, that holds across a failed commit too.
        """
        future: asyncio.Future[tuple[StoredMessage, bool]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.append(_Pending(message, future, order))
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # Let every handler that is ready in this loop pass, or in the next few
            # milliseconds, add its message.
            await asyncio.sleep(GROUP_COMMIT_WINDOW_SECONDS)
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            batch = _in_send_order(batch)
            if batch:
                await self._write(batch)
            if self._queue:  # what came during that commit waits for the next window too
                self._wakeup.set()

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._commit(batch)
        except _DUPLICATE:
            # Another process stored one of these client ids at the same moment;
            # fall back to one transaction per chat so only that chat retries.
            outcomes = {}
            for chat_batch in _by_chat(batch).values():
                outcomes.update(await self._commit_safely(chat_batch))
        except Exception as exc:  # noqa: BLE001 - every failure answers the batch
            outcomes = _refused(batch, exc)
        for pending in batch:
            outcome = outcomes[id(pending)]
            if isinstance(outcome, DatabaseUnavailable) and pending.order is not None:
                pending.order.refused(pending.message)
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
        except Exception as exc:  # noqa: BLE001 - every failure answers the batch
            return _refused(batch, exc)

    async def _commit(self, batch: list[_Pending]) -> dict[int, Any]:
        now = self._clock.now()
        messages = [p.message for p in batch]
        if self._direct is not None:
            results = await self._direct.append(messages, now)
        else:
            for attempt in range(CONFLICT_RETRIES + 1):
                try:
                    async with transaction(self._sessions) as session:
                        results = await append_batch(session, messages, now)
                    break
                except DBAPIError as exc:
                    if attempt == CONFLICT_RETRIES or _sqlstate(exc) not in CONFLICTS:
                        raise
                    log.info("group commit retried after a conflict: %s", _sqlstate(exc))
        return {id(p): result for p, result in zip(batch, results, strict=True)}


def _refused(batch: list[_Pending], exc: Exception) -> dict[int, Any]:
    """Every message of a batch that could not be stored: answered database_unavailable."""
    if isinstance(exc, _UNAVAILABLE):
        log.warning("transcript write failed: %s", exc)
    else:
        # A bug must cost this batch, not the writer task: a dead writer would leave
        # every later message of the process waiting for its ack forever.
        log.exception("transcript write failed", exc_info=exc)
    return {id(p): DatabaseUnavailable() for p in batch}


def _sqlstate(exc: DBAPIError) -> str | None:
    """The PostgreSQL error code behind a driver error (asyncpg's, through SQLAlchemy)."""
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _in_send_order(batch: list[_Pending]) -> list[_Pending]:
    """Refuse, unstored, what would overtake a refused message of its connection."""
    admitted = []
    for pending in batch:
        if pending.order is None or pending.order.admits(pending.message):
            admitted.append(pending)
        elif not pending.future.done():
            pending.future.set_exception(DatabaseUnavailable())
    return admitted


def _by_chat(batch: list[_Pending]) -> dict[int, list[_Pending]]:
    grouped: dict[int, list[_Pending]] = {}
    for pending in batch:
        grouped.setdefault(pending.message.chat_id, []).append(pending)
    return grouped
