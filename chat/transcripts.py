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
import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from chat.bus import Bus
from chat.errors import ChatClosed, DatabaseUnavailable
from chat.models import Chat, ChatAttachment, ChatMessage
from chat.states import OPEN_STATES
from ticketing.clock import Clock
from ticketing.db import iso, transaction

log = logging.getLogger("chat.transcripts")

# Upper bound on one group commit; keeps a transaction short under heavy load.
MAX_BATCH = 500
# A group commit's cost is mostly fixed (one thread hop on SQLite, ~7 round trips on
# PostgreSQL), so the writer waits this long for more messages before committing: a
# couple of milliseconds of latency for commits several times bigger under load.
GROUP_COMMIT_WINDOW_SECONDS = 0.002
# PostgreSQL may abort a group commit to break a deadlock or a serialization conflict
# (SQLSTATE 40P01, 40001); that is retried at once instead of failing the whole batch.
CONFLICT_RETRIES = 2
_CONFLICTS = frozenset({"40P01", "40001"})


@dataclass(frozen=True)
class NewMessage:
    chat_id: int
    sender: str  # customer | agent | system
    sender_id: int | None
    author_name: str
    body: str
    client_id: str | None
    i18n: dict[str, Any] | None = None  # system lines: {"key": …, "params": {…}}
    # A file line (chat/chat_files.py): stored with `append_messages` in the upload's own
    # transaction, never through the group-commit writer, which ignores this field.
    attachment_id: int | None = None


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


def attachment_view(attachment: ChatAttachment) -> dict[str, Any]:
    """A file as message frames carry it; `url` serves it to the chat's participants."""
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": f"/api/chats/{attachment.chat_id}/attachments/{attachment.id}",
    }


def message_frame(row: ChatMessage | StoredMessage) -> dict[str, Any]:
    # Only ChatMessage rows can name a file (StoredMessage, the writer's, never does); their
    # `attachment` is loaded wherever such rows are read (messages_after, chat_files).
    has_file = getattr(row, "attachment_id", None) is not None
    attachment: ChatAttachment | None = getattr(row, "attachment", None) if has_file else None
    return {
        "type": "message",
        "chat_id": row.chat_id,
        "seq": row.seq,
        "sender": row.sender,
        "author_name": row.author_name,
        "body": row.body,
        "client_id": row.client_id,
        "i18n": row.i18n,
        "attachment": attachment_view(attachment) if attachment is not None else None,
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


class _Batch:
    """The decisions of one group commit, apart from how its rows are read and written.

    Shared by the two ways a batch is stored (PostgreSQL through the async session,
    SQLite on the writer's own thread), so both number, de-duplicate and refuse
    messages the same way: resends answered with the stored row, a repeated client id
    in the batch answered with its first copy, a closed chat refused whole.
    """

    def __init__(self, messages: Sequence[NewMessage]) -> None:
        self.messages = messages
        self.keys = {(m.chat_id, m.sender, m.client_id) for m in messages if m.client_id}
        self.results: list[tuple[StoredMessage, bool] | ChatClosed | None] = [None] * len(messages)
        self.fresh: dict[int, list[int]] = {}
        self.repeats: dict[int, int] = {}

    def resend_filter(self) -> tuple[list[int], list[str]]:
        """Chat ids and client ids to look up (a superset of the batch's keys)."""
        return sorted({k[0] for k in self.keys}), sorted({str(k[2]) for k in self.keys})

    def classify(self, found: Iterable[StoredMessage]) -> list[int]:
        """Sort the batch into resends, repeats and fresh messages; returns the chats to lock."""
        stored = {}
        for message in found:
            key = (message.chat_id, message.sender, message.client_id)
            if key in self.keys:
                stored[key] = message
        first_in_batch: dict[tuple[int, str, str], int] = {}
        for index, m in enumerate(self.messages):
            if m.client_id:
                key = (m.chat_id, m.sender, m.client_id)
                if key in stored:
                    self.results[index] = (stored[key], False)
                    continue
                if key in first_in_batch:
                    self.repeats[index] = first_in_batch[key]
                    continue
                first_in_batch[key] = index
            self.fresh.setdefault(m.chat_id, []).append(index)
        return sorted(self.fresh)

    def number(
        self, state_of: dict[int, tuple[Any, int]], now: dt.datetime
    ) -> tuple[list[dict[str, Any]], list[StoredMessage]]:
        """Give fresh messages of open chats their seq: the counter updates and new rows."""
        counters: list[dict[str, Any]] = []
        new_rows: list[StoredMessage] = []
        for chat_id in sorted(self.fresh):
            indexes = self.fresh[chat_id]
            state, last_seq = state_of.get(chat_id, (None, 0))
            if state not in OPEN_STATES:
                for index in indexes:
                    self.results[index] = ChatClosed()
                continue
            customer = False
            for seq, index in enumerate(indexes, start=last_seq + 1):
                m = self.messages[index]
                customer = customer or m.sender == "customer"
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
                new_rows.append(row)
                self.results[index] = (row, True)
            counters.append(
                {
                    "chat": chat_id,
                    "seq_to": last_seq + len(indexes),
                    "activity": now if customer else None,
                }
            )
        return counters, new_rows

    def outcome(self) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        for index, original in self.repeats.items():
            first = self.results[original]
            assert first is not None  # the first of a repeated id is fresh or closed
            self.results[index] = first if isinstance(first, ChatClosed) else (first[0], False)
        return [r for r in self.results if r is not None]


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
    batch = _Batch(messages)
    found: list[StoredMessage] = []
    if batch.keys:
        chat_ids, client_ids = batch.resend_filter()
        rows = await session.execute(
            select(*(table.c[name] for name in _STORED_COLUMNS)).where(
                table.c.chat_id.in_(chat_ids), table.c.client_id.in_(client_ids)
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
            await session.execute(_BUMP_COUNTER, counters)
        if new_rows:
            await session.execute(insert(table), [dataclasses.asdict(r) for r in new_rows])
    return batch.outcome()


class SqliteWriter:
    """Stores group commits on SQLite through its own connection, on its own thread.

    Through the async engine a group commit was ~15 hops to aiosqlite's thread and back
    (cursor, execute, fetch, close per statement, begin, commit), ~100–150 µs of CPU
    each, plus SQLAlchemy's per-statement work: ~2 ms per commit whatever its size. Here
    a commit is ONE hop: the whole batch runs as one function against a `sqlite3`
    connection this thread owns. Statement texts are fixed (SQLite's statement cache
    keeps them prepared) and values go through the columns' own SQLAlchemy type
    processors, so UTC datetimes, JSON and enums are stored exactly as the ORM stores them.

    A second connection to the same file is safe because the database is in WAL mode
    (readers never block, and see every commit) and because the app's engine, through
    pysqlite's deferred transactions, opens its write transaction at its first write, so
    it never holds a read snapshot that this writer's commit could invalidate
    (tests/chat/test_transcripts.py pins both). Writers wait for each other through
    SQLite's busy timeout, on their own threads, never on the event loop.
    """

    def __init__(self, path: str, dialect: Any) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcripts")
        self._conn: sqlite3.Connection | None = None
        table, chats = ChatMessage.__table__, Chat.__table__
        insert_sql = insert(table).compile(dialect=dialect, column_keys=list(_STORED_COLUMNS))
        bump_sql = _BUMP_COUNTER.compile(dialect=dialect)
        self._insert = insert_sql.string
        self._insert_names = list(insert_sql.positiontup or ())
        self._bump = bump_sql.string
        self._bump_names = list(bump_sql.positiontup or ())
        self._bind = {
            **{name: _processor(table.c[name].type, dialect) for name in _STORED_COLUMNS},
            **{name: _processor(bump_sql.binds[name].type, dialect) for name in self._bump_names},
        }
        self._result = [
            _processor(table.c[name].type, dialect, result=True) for name in _STORED_COLUMNS
        ]
        self._state = _processor(chats.c.state.type, dialect, result=True)
        columns = ", ".join(_STORED_COLUMNS)
        # json_each: one fixed text for any number of ids, so the statement stays prepared.
        self._select_resends = (
            f"SELECT {columns} FROM {table.name} "
            "WHERE chat_id IN (SELECT value FROM json_each(?)) "
            "AND client_id IN (SELECT value FROM json_each(?))"
        )
        self._select_chats = (
            f"SELECT id, state, last_seq FROM {chats.name} "
            "WHERE id IN (SELECT value FROM json_each(?))"
        )

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> SqliteWriter | None:
        """A writer for a file-backed SQLite engine; None otherwise (an in-memory database
        is private to its connection, and PostgreSQL needs no thread)."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(url.database, engine.sync_engine.dialect)

    async def append(
        self, messages: Sequence[NewMessage], now: dt.datetime
    ) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._append, messages, now)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
        return self._conn

    def _append(
        self, messages: Sequence[NewMessage], now: dt.datetime
    ) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        """One transaction, on this writer's thread (the only one that uses the connection)."""
        conn = self._connection()
        batch = _Batch(messages)
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: the reads below stay true
        try:
            found: list[StoredMessage] = []
            if batch.keys:
                chat_ids, client_ids = batch.resend_filter()
                rows = conn.execute(
                    self._select_resends, (json.dumps(chat_ids), json.dumps(client_ids))
                )
                found = [
                    StoredMessage(
                        *(p(v) if p else v for p, v in zip(self._result, row, strict=True))
                    )
                    for row in rows
                ]
            chat_ids = batch.classify(found)
            if chat_ids:
                state = self._state
                state_of = {
                    chat_id: (state(value) if state else value, last_seq)
                    for chat_id, value, last_seq in conn.execute(
                        self._select_chats, (json.dumps(chat_ids),)
                    )
                }
                counters, new_rows = batch.number(state_of, now)
                bind = self._bind
                if counters:
                    conn.executemany(
                        self._bump,
                        [self._params(self._bump_names, c, bind) for c in counters],
                    )
                if new_rows:
                    conn.executemany(
                        self._insert,
                        [self._params(self._insert_names, r.__dict__, bind) for r in new_rows],
                    )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return batch.outcome()

    @staticmethod
    def _params(names: list[str], values: dict[str, Any], bind: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name in names:
            value = values[name]
            process = bind[name]
            # None too: JSON stores it as 'null', as the ORM and Core paths do.
            out.append(value if process is None else process(value))
        return tuple(out)


def _processor(type_: Any, dialect: Any, *, result: bool = False) -> Any:
    """The function SQLAlchemy itself applies to a column's values on this dialect (the
    dialect's own implementation of the type: SQLite keeps datetimes as text)."""
    impl = type_.dialect_impl(dialect)
    return impl.result_processor(dialect, None) if result else impl.bind_processor(dialect)


async def messages_after(
    session: AsyncSession, chat_id: int, after_seq: int, limit: int = 1000
) -> list[ChatMessage]:
    rows = await session.scalars(
        select(ChatMessage)
        .where(ChatMessage.chat_id == chat_id, ChatMessage.seq > after_seq)
        .order_by(ChatMessage.seq)
        .limit(limit)
        .options(selectinload(ChatMessage.attachment))
    )
    return list(rows)


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


@dataclass
class _Pending:
    message: NewMessage
    future: asyncio.Future[tuple[StoredMessage, bool]] = field(repr=False)
    order: SendOrder | None = None


class TranscriptWriter:
    """Group commit for chat messages: one transaction per event-loop pass of arrivals."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: Bus, clock: Clock) -> None:
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sqlite: SqliteWriter | None = None

    async def start(self) -> None:
        async with self._sessions() as session:  # no connection is made: just the engine
            engine = session.bind
        if isinstance(engine, AsyncEngine):
            self._sqlite = SqliteWriter.for_engine(engine)
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
        if self._sqlite is not None:
            await self._sqlite.close()
            self._sqlite = None

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
            # Let every handler that is ready in this loop pass, or in the next couple of
            # milliseconds, add its message.
            await asyncio.sleep(GROUP_COMMIT_WINDOW_SECONDS)
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                batch = _in_send_order(batch)
                if batch:
                    await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._commit(batch)
        except (IntegrityError, sqlite3.IntegrityError):
            # Another process stored one of these client ids at the same moment;
            # fall back to one transaction per chat so only that chat retries.
            outcomes = {}
            for chat_batch in _by_chat(batch).values():
                outcomes.update(await self._commit_safely(chat_batch))
        except (OperationalError, DBAPIError, OSError, sqlite3.Error) as exc:
            log.warning("transcript write failed: %s", exc)
            outcomes = {id(p): DatabaseUnavailable() for p in batch}
        except Exception:
            # A bug must cost this batch, not the writer task: a dead writer would leave
            # every later message of the process waiting for its ack forever.
            log.exception("transcript write failed")
            outcomes = {id(p): DatabaseUnavailable() for p in batch}
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
        except (OperationalError, DBAPIError, OSError, sqlite3.Error) as exc:
            log.warning("transcript write failed: %s", exc)
            return {id(p): DatabaseUnavailable() for p in batch}

    async def _commit(self, batch: list[_Pending]) -> dict[int, Any]:
        now = self._clock.now()
        messages = [p.message for p in batch]
        if self._sqlite is not None:
            results = await self._sqlite.append(messages, now)
        else:
            for attempt in range(CONFLICT_RETRIES + 1):
                try:
                    async with transaction(self._sessions) as session:
                        results = await append_batch(session, messages, now)
                    break
                except DBAPIError as exc:
                    if attempt == CONFLICT_RETRIES or _sqlstate(exc) not in _CONFLICTS:
                        raise
                    log.info("group commit retried after a conflict: %s", _sqlstate(exc))
        return {id(p): result for p, result in zip(batch, results, strict=True)}


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
